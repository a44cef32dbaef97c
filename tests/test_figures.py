"""Report figures read like a paper's: fitted and labelled axes, error bars over seeds, the
searched model highlighted, no label drawn over another, for 2, 3 and 4 tasks."""

from __future__ import annotations

import json
from itertools import combinations, pairwise
from pathlib import Path

import pytest

from sharenas.report.comparison_figure import comparison_figure


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
