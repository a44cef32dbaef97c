"""Report figures read like a paper's: fitted and labelled axes, error bars over seeds, the
searched model highlighted, no label drawn over another, for 2, 3 and 4 tasks."""

from __future__ import annotations

import json
from itertools import combinations, pairwise
from pathlib import Path

import pytest

from sharenas.report.comparison_figure import comparison_figure


@pytest.fixture(autouse=True)
def _close_figures():
    """The tests keep the figures the drawing functions would close; close them after."""
    import matplotlib.pyplot as plt

    close = plt.close  # the real one: a test's monkeypatch may still hold plt.close at teardown
    yield
    close("all")


def records(tasks: int, seeds: int) -> dict[str, list[dict]]:
    names = ["single-task", "hard-sharing", "cross-stitch", "NDDR", "fusion (searched)"]
    groups = {}
    for k, name in enumerate(names):
        groups[name] = [
            {
                "primary": {f"task {t}": 0.95 + 0.001 * k + 0.0003 * s for t in range(tasks)},
                "primary_metric": {f"task {t}": "auc" for t in range(tasks)},
                "higher_is_better": {f"task {t}": True for t in range(tasks)},
                "delta_mtl": 0.1 * k - 0.2 + 0.05 * s,
                "flops_per_example": 1e6 * (k + 1),
            }
            for s in range(seeds)
        ]
    return groups


def text_boxes(fig) -> list:
    """(text, window box) of every label the figure draws: the ticks inside each axis's view,
    axis labels, titles, legend entries and the figure title."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = {id(fig._suptitle): fig._suptitle} if fig._suptitle is not None else {}
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():  # the ticks matplotlib draws
                texts.update({id(t): t for t in (tick.label1, tick.label2)})
            texts[id(axis.label)] = axis.label
        texts[id(ax.title)] = ax.title
        legend = ax.get_legend()
        if legend is not None:
            texts.update({id(t): t for t in legend.get_texts()})
    return [
        (t.get_text(), t.get_window_extent(renderer))
        for t in texts.values()
        if t.get_visible() and str(t.get_text()).strip()
    ]


@pytest.mark.parametrize("tasks", [2, 3, 4])
def test_the_comparison_figure_has_no_overlapping_labels(tmp_path: Path, tasks: int, monkeypatch):
    import matplotlib.pyplot as plt

    kept = {}
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: kept.setdefault("fig", fig))
    written = comparison_figure(records(tasks, seeds=3), tmp_path / "report.png")
    assert [p.suffix for p in written] == [".png", ".svg"] and all(p.exists() for p in written)
    fig = kept["fig"]
    boxes = text_boxes(fig)
    overlaps = [
        (a, b) for (a, box_a), (b, box_b) in combinations(boxes, 2) if box_a.overlaps(box_b)
    ]
    assert not overlaps, overlaps[:5]
    panel = fig.axes[0]
    low, high = panel.get_xlim()
    assert low > 0.9 and high - low < 0.05  # fitted to AUCs 0.950–0.955, not from 0
    assert "higher is better" in panel.get_xlabel() and "auc" in panel.get_xlabel()
    assert any(label.get_fontweight() == "bold" for label in panel.get_yticklabels())
    assert len(fig.axes) == tasks + 1 and "seeds" in fig._suptitle.get_text()
    close(fig)


def kept_figure(monkeypatch):
    """The figure a drawing function would close, kept for inspection."""
    import matplotlib.pyplot as plt

    kept = {}
    monkeypatch.setattr(plt, "close", lambda fig: kept.setdefault("fig", fig))
    return kept


def assert_no_overlap(fig) -> None:
    boxes = text_boxes(fig)
    overlaps = [(a, b) for (a, ba), (b, bb) in combinations(boxes, 2) if ba.overlaps(bb)]
    assert not overlaps, overlaps[:5]


def fusion_arch(tasks: int) -> dict:
    """Every same-stage and next-stage edge between every ordered pair of tasks; every third
    kept."""
    names = [f"task {t}" for t in range(tasks)]
    candidates = []
    for a in names:
        for b in names:
            for i in range(3):
                for j in (i, i + 1):
                    if a != b and j < 3:
                        k = len(candidates)
                        edge = {"edge": f"{a}:{i}->{b}:{j}", "probability": (k % 10) / 10}
                        candidates.append({**edge, "kept": k % 3 == 0})
    return {"stages": dict.fromkeys(names, 3), "candidates": candidates}


@pytest.mark.parametrize("tasks", [2, 3, 4])
def test_the_fusion_diagram_routes_edges_around_boxes(tmp_path: Path, tasks: int, monkeypatch):
    from sharenas.report.fusion import BOX_H, BOX_W, _route, architecture_diagram
    from sharenas.spaces.fusion import Edge

    kept = kept_figure(monkeypatch)
    arch = fusion_arch(tasks)
    architecture_diagram(arch, tmp_path / "architecture.png")
    assert (tmp_path / "architecture.svg").exists()
    fig = kept["fig"]
    assert_no_overlap(fig)
    legend = fig.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert sum("p = " in label for label in labels) == sum(c["kept"] for c in arch["candidates"])
    assert labels[-1].startswith("pruned")
    names = list(arch["stages"])
    position = {(t, i): (c * 2.6, -i * 1.3) for c, t in enumerate(names) for i in range(3)}
    for lane, candidate in enumerate(arch["candidates"]):  # no segment crosses another box
        edge = Edge.parse(candidate["edge"])
        points = _route(edge, lane, position)
        ends = {(edge.source, edge.source_stage), (edge.target, edge.target_stage)}
        for (x0, y0), (x1, y1) in pairwise(points):
            for key, (bx, by) in position.items():
                if key in ends:
                    continue
                inside_x = min(x0, x1) < bx + BOX_W / 2 and max(x0, x1) > bx - BOX_W / 2
                inside_y = min(y0, y1) < by + BOX_H / 2 and max(y0, y1) > by - BOX_H / 2
                assert not (inside_x and inside_y), (candidate["edge"], key)


@pytest.mark.parametrize("tasks", [2, 3, 4])
def test_the_route_diagram_has_a_legend_and_words(tmp_path: Path, tasks: int, monkeypatch):
    from sharenas.report.routing import route_diagram, route_words

    names = [f"task {t}" for t in range(tasks)]
    arch = {
        "space": "routing",
        "layers": [["0+1@input", "1+2@in0", "2@input"]],
        "towers": {n: ("0+2@in1" if i % 2 else f"{i % 3}@input") for i, n in enumerate(names)},
        "layers_count": 2,
        "space_config": {"experts": 3},
        "strategy": "reinforce",
    }
    kept = kept_figure(monkeypatch)
    route_diagram(arch, tmp_path / "routes.png")
    fig = kept["fig"]
    assert_no_overlap(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert all(f"{n}'s route" in labels for n in names)
    words = "\n".join(route_words(arch))
    assert (
        "**task 1**: its tower reads L1 e0 and L1 e2, mixed by a gate on the input of L1 e1"
        in words
    )
    assert "L1 e0 reads L0 e0 and L0 e1, mixed by a gate on the input." in words


def test_gate_trajectories_are_drawn_per_step_with_named_edges(tmp_path: Path, monkeypatch):
    """A fusion search records the gates about 20 times per epoch; the plot draws them against
    the step and names every edge."""
    import sharenas
    from sharenas.report.fusion import gate_history_plot, network_order

    config = tmp_path / "f.yaml"
    config.write_text(
        "data: {name: synthetic-mmoe, train_size: 640, val_size: 64, test_size: 64, dim: 8}\n"
        "model: {backbone: {name: mlp, widths: [8, 8]}}\n"
        "train: {epochs: 2, batch_size: 16, threads: 1}\n"
    )
    sharenas.search(config, tmp_path / "s", baselines=False, progress=False)
    history = tmp_path / "s" / "search" / "supernet" / "history.jsonl"
    kept = kept_figure(monkeypatch)
    arch = json.loads((tmp_path / "s" / "search" / "arch.json").read_text())
    gate_history_plot(history, tmp_path / "gates.png", network_order(arch))
    left = kept["fig"].axes[0]
    assert left.get_xlabel() == "search step"
    assert (tmp_path / "gates.svg").exists()  # every figure also as a vector file
    steps = left.get_lines()[0].get_xdata()
    assert len(steps) >= 30 and list(steps) == sorted(steps)  # 20 steps an epoch, 2 epochs
    assert all("→" in t.get_text() for t in left.get_legend().get_texts())


def test_the_gate_figure_names_each_curve_by_its_own_edge(tmp_path: Path, monkeypatch):
    """The trajectory holds the gates in the network's order; the history's probabilities are
    keyed by edge and written sorted. The edge whose gate falls to 0 (here right s0 → left s0,
    listed first in the network but last alphabetically) names the curve that falls."""
    from sharenas.report.fusion import fusion_figures

    order = ["right:0->left:0", "left:0->right:0", "left:0->right:1"]
    finals = {"right:0->left:0": 0.02, "left:0->right:0": 0.97, "left:0->right:1": 0.6}
    trajectory = [[step, [0.5 + (finals[e] - 0.5) * step / 4 for e in order]] for step in range(5)]
    row = {"epoch": 0, "trajectory": trajectory, "probabilities": finals}
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps(row, sort_keys=True) + "\n")  # as the search writes it
    candidates = [{"edge": e, "probability": finals[e], "kept": finals[e] > 0.5} for e in order]
    arch = {"stages": {"left": 2, "right": 2}, "candidates": candidates}
    import matplotlib.pyplot as plt

    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    fusion_figures(arch, history, tmp_path)  # the architecture diagram, then the gates
    curves = {line.get_label(): line.get_ydata()[-1] for line in closed[1].axes[0].get_lines()}
    assert curves["right s0 → left s0"] == pytest.approx(0.02)
    assert curves["left s0 → right s0"] == pytest.approx(0.97)
    assert curves["left s0 → right s1"] == pytest.approx(0.6)


def _gate_history(folder: Path) -> tuple[Path, list[str]]:
    """Two epochs of six gates, as a fusion search writes them."""
    pairs = (("left", "right"), ("right", "left"))
    order = [f"{a}:{i}->{b}:{i}" for a, b in pairs for i in range(3)]
    rows = []
    for epoch in range(2):
        trajectory = [
            [epoch * 20 + s, [0.5 + (k - 2.5) * (epoch * 20 + s) / 400 for k in range(6)]]
            for s in range(0, 20, 4)
        ]
        probabilities = dict(zip(order, trajectory[-1][1], strict=True))
        rows.append({"epoch": epoch, "trajectory": trajectory, "probabilities": probabilities})
    history = folder / "history.jsonl"
    history.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return history, order


def _partition_record() -> tuple[dict, list[dict]]:
    """A partition search's record and trials over a narrow FLOPs and score range."""
    tasks = ["depth", "segmentation"]
    matrix = [[0.8, 0.5], [0.5, 0.7]]
    points = [
        {
            "number": n,
            "label": "",
            "total_flops": 1.23e6 + 40 * n,
            "primary": {"depth": 0.9101 + 0.0001 * n, "segmentation": 0.8502 - 0.0001 * n},
            "genotype": {"tasks": tasks, "matrices": [matrix], "gradients": [matrix]},
        }
        for n in range(5)
    ]
    record = {
        "higher_is_better": {"depth": True, "segmentation": True},
        "tasks_primary_metric": {"depth": "r2", "segmentation": "accuracy"},
        "front": points,
        "references": {"share-all": points[4], "independent": points[0]},
    }
    trials = [{"state": "COMPLETE", "evaluation": p} for p in points]
    return record, trials


def _front_candidates() -> tuple[list, object]:
    """``sharenas auto``'s models, their FLOPs within a factor of three."""
    from sharenas.workflows.auto_scores import Candidate

    kinds = ["baseline", "baseline", "random", "search", "search"]
    candidates = [
        Candidate(f"model {k}", kind, None, k % 2, Path("."), {"flops_per_example": 2e6 * k}, {})
        for k, kind in enumerate(kinds, 1)
    ]
    for k, c in enumerate(candidates):
        c.test_delta = 0.4 * k - 0.5
    return candidates, candidates[3]


def drawn_texts(fig) -> list:
    """Every text the figure draws: text_boxes' labels, notes and annotations, figure texts."""
    texts = {id(t): t for t in fig.texts}
    for ax in fig.axes:
        legend = ax.get_legend()
        texts.update({id(t): t for t in ax.texts})
        if legend is not None:
            texts[id(legend.get_title())] = legend.get_title()
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                for tick in axis._update_ticks():
                    texts.update({id(t): t for t in (tick.label1, tick.label2)})
                texts[id(axis.label)] = axis.label
                texts[id(axis.get_offset_text())] = axis.get_offset_text()
        texts.update({id(t): t for t in (ax.title, ax._left_title, ax._right_title)})
        texts.update({id(t): t for t in legend.get_texts()} if legend is not None else {})
    return [t for t in texts.values() if t.get_visible() and str(t.get_text()).strip()]


def _draw(name: str, folder: Path) -> None:
    from sharenas.report import affinity, branching, fusion, partition, routing
    from sharenas.workflows.auto_report import front_figure

    if name == "comparison":
        comparison_figure(records(3, seeds=3), folder / "report.png")
    elif name == "architecture":
        fusion.architecture_diagram(fusion_arch(4), folder / "architecture.png")
    elif name == "gates":
        history, order = _gate_history(folder)
        fusion.gate_history_plot(history, folder / "gates.png", order)
    elif name == "routes":
        arch = {
            "space": "routing",
            "layers": [["0+1@input", "1+2@in0", "2@input"]],
            "towers": {"task 0": "0@input", "task 1": "0+2@in1", "task 2": "1+2@input"},
            "layers_count": 2,
            "space_config": {"experts": 3},
        }
        routing.route_diagram(arch, folder / "routes.png")
    elif name == "search":
        rows = [
            {"epoch": e, "reward": 0.8 + 1e-4 * e, "policy_entropy": 1.1 - 0.01 * e}
            for e in range(6)
        ]
        (folder / "h.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        routing.search_history_plot(folder / "h.jsonl", folder / "search.png")
    elif name == "pareto":
        partition.pareto_plot(*_partition_record(), folder / "pareto.png")
    elif name == "partitions":
        partition.partition_heatmaps(_partition_record()[0], folder / "partitions.png")
    elif name == "tree":
        tree = [[["a", "b", "c", "d"]], [["a", "b"], ["c", "d"]], [["a", "b"], ["c"], ["d"]]]
        branching.tree_diagram({"space": "branching", "tree": tree}, folder / "tree.png")
    elif name == "affinity":
        m = [[0.0, 0.2, -0.1], [0.3, 0.0, 0.05], [-0.2, 0.1, 0.0]]
        record = {"tasks": ["a", "b", "c"], "lookahead": m, "stages": {"stage 0": m}}
        affinity.affinity_figure(record, folder / "affinity.png")
    elif name == "front":
        candidates, chosen = _front_candidates()
        front_figure(candidates, chosen, 5e6, folder / "front.png")


FIGURES = [
    "comparison", "architecture", "gates", "routes", "search", "pareto", "partitions", "tree",
    "affinity", "front",
]  # fmt: skip


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_reads_at_print_size(tmp_path: Path, name: str, monkeypatch):
    """Every figure the reports write, checked as a paper's figure:

    - every axis that shows data names its x quantity, and its y quantity (panels sharing one
      y axis name it once);
    - nothing is cut off: the PNG holds exactly the figure's padded tight box (``saved_area``)
      and every text lies inside it;
    - every text is at least 6.5 pt when printed: a figure wider than 7 in (a page's text
      width) is scaled down to 7 in, so its text must be ``size_pt × 7 / width_in ≥ 6.5``;
    - no tick label, axis label, title or legend entry is drawn over another.
    """
    from PIL import Image

    from sharenas.report.figure import print_scale, saved_area

    closed = []
    monkeypatch.setattr(__import__("matplotlib.pyplot").pyplot, "close", closed.append)
    _draw(name, tmp_path)
    (fig,) = closed
    for ax in fig.axes:
        shows_data = ax.lines or ax.collections or ax.images or ax.patches
        if ax.axison and shows_data and not hasattr(ax, "_colorbar"):
            shared = ax.get_shared_y_axes().get_siblings(ax)
            assert ax.get_xlabel().strip(), ax.get_title()
            assert any(a.get_ylabel().strip() for a in shared), ax.get_title()
    area = saved_area(fig)
    png = next(tmp_path.glob("*.png"))
    with Image.open(png) as image:
        (width, height), dpi = image.size, image.info["dpi"][0]
    slack = 0.08  # inches: text extents differ a little between the saved and the screen dpi
    assert abs(width / dpi - area.width) <= slack and abs(height / dpi - area.height) <= slack
    inside = area.padded(slack).transformed(fig.dpi_scale_trans)
    renderer, scale = fig.canvas.get_renderer(), print_scale(fig)
    for text in drawn_texts(fig):
        box = text.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, text.get_text()
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, text.get_text()
        assert text.get_fontsize() * scale >= 6.5, (text.get_text(), text.get_fontsize())
    assert_no_overlap(fig)


@pytest.mark.parametrize("tasks", [2, 4])
def test_no_fusion_edge_doubles_back_and_no_two_share_a_style(tmp_path: Path, tasks, monkeypatch):
    """Every route turns only corners (no segment of no length, none running back along the
    one before); every kept edge has a (colour, line style) of its own in the legend."""
    from sharenas.report.fusion import _route, architecture_diagram
    from sharenas.spaces.fusion import Edge

    arch = fusion_arch(tasks)
    names = list(arch["stages"])
    position = {(t, i): (c * 2.6, -i * 1.3) for c, t in enumerate(names) for i in range(3)}
    for lane, candidate in enumerate(arch["candidates"]):
        points = _route(Edge.parse(candidate["edge"]), lane, position)
        steps = [(x1 - x0, y1 - y0) for (x0, y0), (x1, y1) in pairwise(points)]
        assert all(dx or dy for dx, dy in steps), candidate["edge"]
        for (ax, ay), (bx, by) in pairwise(steps):
            assert ax * bx + ay * by >= 0, candidate["edge"]  # no reversal
    kept = kept_figure(monkeypatch)
    architecture_diagram(arch, tmp_path / "architecture.png")
    handles = kept["fig"].axes[0].get_legend().legend_handles[:-1]  # less "pruned"
    styles = [(str(h.get_color()), str(h._unscaled_dash_pattern)) for h in handles]
    assert len(handles) == sum(c["kept"] for c in arch["candidates"]) > 10 * (tasks > 2)
    assert len(set(styles)) == len(styles)


@pytest.mark.parametrize("spread", [5, 100])
def test_the_front_names_its_points_and_ticks_its_flops_axis(tmp_path: Path, spread, monkeypatch):
    """``front.png``: a log FLOPs axis only over a decade or more (below one it showed a single
    tick), at least three labelled ticks either way, and every model named beside its point."""
    from sharenas.workflows.auto_report import front_figure

    candidates, chosen = _front_candidates()
    for k, c in enumerate(candidates):
        c.metrics["flops_per_example"] = 1e6 * spread ** (k / (len(candidates) - 1))
    kept = kept_figure(monkeypatch)
    front_figure(candidates, chosen, 2e6, tmp_path / "front.png")
    ax = kept["fig"].axes[0]
    assert ax.get_xscale() == ("log" if spread >= 10 else "linear")
    kept["fig"].canvas.draw()
    ticks = [t.label1.get_text() for t in ax.xaxis._update_ticks() if t.label1.get_text()]
    assert len(ticks) >= 3, ticks
    names = {t.get_text() for t in ax.texts}
    assert {c.name for c in candidates} <= names
