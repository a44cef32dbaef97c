"""The comparison figure of a report: one panel per task (the primary test metric of every model,
mean with ± std error bars over seeds, the axis fitted to the values and labelled with the metric
and its direction, the searched model highlighted) and a Δ_MTL against FLOPs panel. Written as
PNG and SVG."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from sharenas.report.figure import save_figure

SEARCHED, OTHER = "#dd8452", "#4c72b0"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fitted(ax: Any, lows: list[float], highs: list[float]) -> None:
    """The value axis around the data (a difference of 0.001 stays visible), not from 0."""
    low, high = min(lows), max(highs)
    pad = (high - low) * 0.15 or abs(high) * 0.01 or 0.01
    ax.set_xlim(low - pad, high + pad)


def _task_panel(ax: Any, groups: dict[str, list[dict[str, Any]]], task: str, searched: set[str]):  # type: ignore[no-untyped-def]
    from matplotlib.ticker import MaxNLocator

    first = next(iter(groups.values()))[0]
    names = list(groups)
    stats = [_mean_std([r["primary"][task] for r in groups[n]]) for n in names]
    for y, (name, (mean, std)) in enumerate(zip(names, stats, strict=True)):
        colour = SEARCHED if name in searched else OTHER
        ax.errorbar(mean, y, xerr=std, fmt="o", color=colour, capsize=3, markersize=6)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for label in ax.get_yticklabels():
        if label.get_text() in searched:
            label.set_color(SEARCHED)
            label.set_fontweight("bold")
    if not ax.yaxis_inverted():  # the panels share their y axis: invert it once
        ax.invert_yaxis()
    _fitted(ax, [m - s for m, s in stats], [m + s for m, s in stats])
    better = "higher" if first["higher_is_better"][task] else "lower"
    ax.set_xlabel(f"test {first['primary_metric'][task]}\n({better} is better)", fontsize=8)
    ax.set_title(task, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.tick_params(axis="x", labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]))


def _cost_panel(ax: Any, groups: dict[str, list[dict[str, Any]]], searched: set[str]) -> bool:  # type: ignore[no-untyped-def]
    """Δ_MTL against MFLOPs per example, one marker per model named in the legend; False when
    Δ_MTL is unknown (no single-task run among them)."""
    markers = "osD^v<>pPX*h"
    shown = False
    for i, (name, records) in enumerate(groups.items()):
        deltas = [r.get("delta_mtl") for r in records]
        if None in deltas:
            continue
        mean, std = _mean_std(deltas)  # type: ignore[arg-type]
        flops = statistics.fmean(r["flops_per_example"] for r in records) / 1e6
        colour = SEARCHED if name in searched else OTHER
        ax.errorbar(
            flops,
            mean,
            yerr=std,
            fmt=markers[i % len(markers)],
            color=colour,
            capsize=3,
            markersize=7,
            label=name,
        )
        shown = True
    if shown:
        ax.set_xlabel("MFLOPs per example (lower is cheaper)", fontsize=8)
        ax.set_ylabel("Δ_MTL % vs single-task\n(higher is better)", fontsize=8)
        ax.set_title("quality against cost", fontsize=9)
        ax.axhline(0, color="grey", linewidth=0.8, linestyle="--")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return shown


def comparison_figure(
    groups: dict[str, list[dict[str, Any]]], path: Path, searched: set[str] | None = None
) -> list[Path]:
    """``groups[model]``: that model's metrics records (one per seed). Writes ``path`` (PNG) and
    the same figure as SVG beside it; returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    searched = searched or {n for n in groups if "(searched" in n}
    tasks = list(next(iter(groups.values()))[0]["primary"])
    height = max(3.2, 0.9 + 0.32 * len(groups))
    columns = min(2, len(tasks))  # task panels two a row, so the figure prints at a page's width
    rows = -(-len(tasks) // columns)
    fig = plt.figure(figsize=(2.7 * columns + 5.0, height * rows), layout="constrained")
    grid = fig.add_gridspec(rows, columns + 1, width_ratios=[1.0] * columns + [1.4])
    first = None
    for i, task in enumerate(tasks):  # the models named on each row's left panel
        ax = fig.add_subplot(grid[i // columns, i % columns], sharey=first)
        _task_panel(ax, groups, task, searched)
        first = first or ax
        if i % columns:
            ax.tick_params(axis="y", labelleft=False)
        else:
            ax.set_ylabel("model", fontsize=8)
    cost = fig.add_subplot(grid[:, columns])
    if not _cost_panel(cost, groups, searched):
        cost.remove()
    seeds = max(len(records) for records in groups.values())
    if seeds > 1:
        fig.suptitle(f"mean ± std over {seeds} seeds", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [save_figure(fig, path, dpi=130), path.with_suffix(".svg")]
    plt.close(fig)
    return written
