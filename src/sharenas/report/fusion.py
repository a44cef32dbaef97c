"""Pictures of a fusion search: the architecture (tasks as columns, stages as rows, kept edges
drawn with their probability) and the gate probabilities over the search."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sharenas.report.figure import save_figure
from sharenas.report.space_figures import register_figures
from sharenas.run_files import read_lines
from sharenas.spaces.fusion import Edge, FusionSpace


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


COLUMN, ROW, BOX_W, BOX_H = 2.6, 1.3, 1.1, 0.5


def _route(edge: Edge, lane: int, position: dict[tuple[str, int], tuple[float, float]]):  # type: ignore[no-untyped-def]
    """The edge's path, orthogonal and clear of every box: out of the source's side into the
    gutter between columns, along the channel between rows above the target's row, down the
    gutter beside the target, into its side; between adjacent columns straight down the gutter
    they share (no detour to the channel and back). ``lane`` spreads edges that share a
    gutter."""
    (xa, ya), (xb, yb) = (
        position[(edge.source, edge.source_stage)],
        position[(edge.target, edge.target_stage)],
    )
    way = 1.0 if xb >= xa else -1.0
    shift = ((lane % 9) - 4) * 0.1  # within a gutter (±0.4) and a channel (±0.4)
    rise = ((lane % 5) - 2) * 0.08  # where the edge leaves and enters a box's side
    gutter_a, gutter_b = xa + way * COLUMN / 2 + shift, xb - way * COLUMN / 2 + shift
    start, end = (xa + way * BOX_W / 2, ya + rise), (xb - way * BOX_W / 2, yb + rise)
    if abs(gutter_a - gutter_b) < 1e-9:  # adjacent columns: down the gutter between them
        return _without_repeats([start, (gutter_a, ya + rise), (gutter_a, yb + rise), end])
    channel = yb + ROW / 2 + shift * 0.6
    return [
        start,
        (gutter_a, ya + rise),
        (gutter_a, channel),
        (gutter_b, channel),
        (gutter_b, yb + rise),
        end,
    ]


def _without_repeats(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``points`` less each that repeats the one before (a segment of no length)."""
    return [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]


def edge_styles(count: int) -> list[tuple[Any, Any]]:
    """``count`` (colour, line style) pairs, no two alike: the ten tab10 colours solid, then
    dashed, dash-dotted and densely dotted; past 40 edges, colours spread over a colormap."""
    import matplotlib

    dashes = ["-", "--", "-.", (0, (1, 1))]
    if count > 10 * len(dashes):
        spread = matplotlib.colormaps["turbo"]
        return [(spread(k / (count - 1)), dashes[k % len(dashes)]) for k in range(count)]
    tab10 = matplotlib.colormaps["tab10"].colors
    return [(tab10[k % 10], dashes[k // 10]) for k in range(count)]


def _draw_edge(ax: Any, points: list, colour: Any, kept: bool, dash: Any = "-") -> None:  # type: ignore[type-arg]
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as Polyline

    codes = [Polyline.MOVETO] + [Polyline.LINETO] * (len(points) - 1)
    ax.add_patch(
        FancyArrowPatch(
            path=Polyline(points, codes),
            arrowstyle="-|>" if kept else "->",
            mutation_scale=9,
            color=colour,
            lw=1.5 if kept else 0.6,
            linestyle=dash if kept else ":",
            zorder=3 if kept else 1,
        )
    )


def _draw_boxes(ax: Any, position: dict[tuple[str, int], tuple[float, float]]) -> None:
    from matplotlib.patches import Rectangle

    for (task, stage), (x, y) in position.items():
        corner = (x - BOX_W / 2, y - BOX_H / 2)
        ax.add_patch(
            Rectangle(corner, BOX_W, BOX_H, facecolor="#dde6f3", edgecolor="#4c72b0", zorder=2)
        )
        ax.text(x, y, f"{task}\nstage {stage}", ha="center", va="center", fontsize=7, zorder=4)


def _draw_edges(ax: Any, candidates: list[dict[str, Any]], position: dict) -> list:  # type: ignore[type-arg]
    """Every candidate edge (kept: a colour and line style of its own; pruned: faint); the
    legend's handles of the kept ones, each named with its probability."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    styles = edge_styles(sum(bool(c["kept"]) for c in candidates))
    for lane, candidate in enumerate(candidates):
        edge = Edge.parse(candidate["edge"])
        points = _route(edge, lane, position)
        if not candidate["kept"]:
            _draw_edge(ax, points, "#bbbbbb", False)
            continue
        colour, dash = styles[len(handles)]
        _draw_edge(ax, points, colour, True, dash)
        name = f"{edge.source} s{edge.source_stage} → {edge.target} s{edge.target_stage}"
        label = f"{name}: p = {candidate['probability']:.2f}"
        handles.append(Line2D([], [], color=colour, lw=1.5, ls=dash, label=label))
    return handles


def architecture_diagram(arch: dict[str, Any], path: Path) -> Path:
    """Tasks as columns, stages as rows (``arch["stages"]``). Every candidate edge runs
    orthogonally through the gutters between columns and the channels between rows, so none
    passes behind a box; kept edges in colour, each named with its probability in the legend,
    pruned ones faint and dotted. Written as PNG and SVG."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    stages: dict[str, int] = arch["stages"]
    tasks = list(stages)
    depth = max(stages.values())
    position = {
        (t, i): (c * COLUMN, -i * ROW) for c, t in enumerate(tasks) for i in range(stages[t])
    }
    kept = [c for c in arch["candidates"] if c["kept"]]
    fig, ax = plt.subplots(
        figsize=(COLUMN * len(tasks) + 4.2, max(ROW * depth + 1.4, 0.26 * len(kept) + 1.6)),
        layout="constrained",
    )
    _draw_boxes(ax, position)
    handles = _draw_edges(ax, arch["candidates"], position)
    pruned = len(arch["candidates"]) - len(kept)
    handles.append(Line2D([], [], color="#bbbbbb", lw=0.8, ls=":", label=f"pruned ({pruned})"))
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="kept edges, gate probability",
        title_fontsize=7,
        borderaxespad=0,
    )
    ax.set_xlim(-COLUMN / 2 - 0.1, COLUMN * (len(tasks) - 0.5) + 0.1)
    ax.set_ylim(-ROW * (depth - 1) - ROW / 2 - 0.1, ROW + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"fusion edges kept: {len(kept)} of {len(arch['candidates'])}", fontsize=9)
    save_figure(fig, path, dpi=130)
    plt.close(fig)
    return path


def gate_history_plot(history_path: Path, path: Path, edges: Sequence[str]) -> Path:
    """Every edge's gate probability during the search (about 20 points per epoch, each edge
    named in the legend), and the histogram of the final values. ``edges``: the candidate edges
    in the network's order (arch.json's ``candidates``), the order of the trajectory's values;
    the history's ``probabilities`` are keyed by edge, so their order is the file's (sorted)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    rows = read_lines(history_path)
    edges = list(edges)
    points = [point for row in rows for point in row.get("trajectory", [])]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6 + 0.12 * min(len(edges), 24)))
    epochs = [r["epoch"] + 1 for r in rows]  # counted from 1, as the progress display does
    for i, edge in enumerate(edges):
        named = edge.replace("->", " → ").replace(":", " s")
        if points:  # recorded during the epochs (about 20 points each)
            steps = [step for step, _ in points]
            left.plot(steps, [values[i] for _, values in points], lw=1, label=named)
        else:
            left.plot(epochs, [r["probabilities"][edge] for r in rows], lw=1, label=named)
    left.axhline(0.5, color="#888888", lw=0.8, ls="--")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("search step" if points else "epoch")
    left.set_ylabel("σ(α)")
    left.set_title("gate probabilities during the search", fontsize=9)
    right.hist(
        [rows[-1]["probabilities"][e] for e in edges], bins=20, range=(0, 1), color="#4c72b0"
    )
    right.set_xlabel("final σ(α)")
    right.set_ylabel("edges")
    right.set_title("final gate values", fontsize=9)
    if len(edges) <= 24:  # beyond that a legend hides more than it names
        left.legend(
            fontsize=6,
            ncol=1 + len(edges) // 12,
            loc="upper left",
            bbox_to_anchor=(0.0, -0.25),
            borderaxespad=0,
        )
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def network_order(arch: dict[str, Any]) -> list[str]:
    """The candidate edges in the supernet's order (the order of its gates)."""
    return [candidate["edge"] for candidate in arch["candidates"]]


@register_figures(FusionSpace.name)
def fusion_figures(arch: dict[str, Any], history: Path, folder: Path) -> dict[str, Path]:
    """The kept edges' diagram and the gates over the search."""
    return {
        "architecture diagram": architecture_diagram(arch, folder / "architecture.png"),
        "search plot": gate_history_plot(history, folder / "gates.png", network_order(arch)),
    }
