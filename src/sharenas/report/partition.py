"""Pictures of a partition search: the Pareto front (each task's score against total FLOPs, with
share-all, independent and single-task marked) and heat maps of chosen partition matrices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.report.figure import save_figure
from sharenas.report.fusion import _pyplot
from sharenas.report.search_summary import figure_lines
from sharenas.tabular import Column, Table, fixed, grouped, number, signed


def pareto_plot(record: dict[str, Any], trials: list[dict[str, Any]], path: Path) -> Path:
    """One panel per task: validation score against total FLOPs of every evaluated partition,
    the front joined, the reference points marked."""
    plt = _pyplot()
    tasks = list(record["higher_is_better"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    evaluated = [t for t in trials if t["state"] == "COMPLETE" and "evaluation" in t]
    markers = {
        "share-all": ("s", "#c44e52"),
        "independent": ("^", "#55a868"),
        "single-task": ("*", "#8172b2"),
    }
    for ax, task in zip(axes[0], tasks, strict=True):
        xs = [t["evaluation"]["total_flops"] / 1e6 for t in evaluated]
        ys = [t["evaluation"]["primary"][task] for t in evaluated]
        ax.scatter(xs, ys, s=14, color="#999999", label="evaluated")
        front = record["front"]
        ax.scatter(
            [p["total_flops"] / 1e6 for p in front],
            [p["primary"][task] for p in front],
            s=22,
            color="#4c72b0",
            label="Pareto front (all objectives)",
        )
        for label, point in record["references"].items():
            marker, colour = markers.get(label, ("x", "black"))
            ax.scatter(
                [point["total_flops"] / 1e6],
                [point["primary"][task]],
                marker=marker,
                s=90,
                color=colour,
                label=label,
                zorder=5,
            )
        direction = "higher" if record["higher_is_better"][task] else "lower"
        metric = record["tasks_primary_metric"][task]
        ax.set_xlabel("total MFLOPs / example")
        ax.set_ylabel(f"{task} val {metric} ({direction} is better)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def _heatmap(ax: Any, matrix: list[list[float]], tasks: list[str], title: str) -> None:
    ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value < 0.6 else "black",
            )
    ax.set_xticks(range(len(tasks)), tasks, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
    ax.set_xlabel("task j", fontsize=7)
    ax.set_ylabel("task i", fontsize=7)
    ax.set_title(title, fontsize=8)


def partition_heatmaps(record: dict[str, Any], path: Path, limit: int = 4) -> Path:
    """The partition matrix P of up to ``limit`` front points (cheapest to costliest), with
    their gradient matrices G in a second row when the points have them."""
    plt = _pyplot()
    front = sorted(record["front"], key=lambda p: p["total_flops"])
    if len(front) > limit:
        step = (len(front) - 1) / (limit - 1)
        front = [front[round(i * step)] for i in range(limit)]
    with_gradients = any(p["genotype"].get("gradients") for p in front)
    rows, columns = (2 if with_gradients else 1), max(1, len(front))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
    for column, point in enumerate(front):
        genotype, tasks = point["genotype"], point["genotype"]["tasks"]
        title = f"trial {point['number']}: P, {point['total_flops'] / 1e6:.3g} MFLOPs"
        _heatmap(axes[0][column], genotype["matrices"][0], tasks, title)
        if with_gradients:
            gradient = (genotype.get("gradients") or genotype["matrices"])[0]
            _heatmap(axes[1][column], gradient, tasks, f"trial {point['number']}: gradients G")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def front_table(record: dict[str, Any]) -> Table:
    """The front points and the references."""
    tasks = list(record["higher_is_better"])
    metric = record["tasks_primary_metric"]
    columns = [
        Column("point", key=True),
        *(Column(f"{t} val {metric[t]}", fixed(4)) for t in tasks),
        Column("MFLOPs", number(4)),
    ]
    rows = []
    for point in sorted(record["front"], key=lambda p: p["total_flops"]):
        label = f"trial {point['number']}" + (f" ({point['label']})" if point["label"] else "")
        rows.append([label, *(point["primary"][t] for t in tasks), point["total_flops"] / 1e6])
    for label, point in record["references"].items():
        scores = [point["primary"][t] for t in tasks]
        rows.append([f"reference: {label}", *scores, point["total_flops"] / 1e6])
    return Table("the Pareto front against the references", columns, rows)


def delivery_table(record: dict[str, Any]) -> Table:
    """The chosen partition trained (test metrics, Δ_MTL, the pruned network's FLOPs and
    parameters) against the single-task teachers, tasks in declared order."""
    tasks = list(record["higher_is_better"])
    metric = record["tasks_primary_metric"]
    columns = [
        Column("model", key=True),
        *(Column(f"{t} test {metric[t]}", fixed(4)) for t in tasks),
        Column("Δ_MTL %", signed(2)),
        Column("MFLOPs", number(4)),
        Column("params", grouped),
    ]
    single = record["single_task"]
    label = single.get("label", "single-task")
    rows = [
        [
            "partition (searched, trained)",
            *(record["primary"][t] for t in tasks),
            record["delta_mtl"],
            record["flops_per_example"] / 1e6,
            record["params"],
        ],
        [
            "single-task (the teachers)" if label == "single-task" else label,
            *(single["primary"][t] for t in tasks),
            0.0,
            single["flops_per_example"] / 1e6,
            single["params"],
        ],
    ]
    return Table("the chosen partition, trained (test split)", columns, rows)


FIGURE_CAPTIONS = {
    "front plot": "Each task's validation score against total FLOPs of every evaluated partition "
    "(the Pareto front and the references marked)",
    "partitions": "The partition matrices P of front points, cheapest to costliest",
}


def figure_links(files: dict[str, Path], folder: Path) -> str:
    """``report.md``'s figures section: each figure written (those in ``FIGURE_CAPTIONS``) as
    a Markdown image, its path relative to ``folder`` (the report's)."""
    captioned = {caption: files[name] for name, caption in FIGURE_CAPTIONS.items() if name in files}
    return "\n\n".join(["## Figures", *figure_lines(captioned, folder)]) + "\n"
