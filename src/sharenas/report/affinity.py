"""The affinity heat map: TAG's lookahead affinity Z[i][j] (rows: the task whose step was taken,
columns: the task whose loss moved) beside the per-stage gradient cosines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.report.figure import save_figure
from sharenas.tabular import Column, Table, signed


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _panel(axis: Any, matrix: list[list[float]], tasks: list[str], title: str) -> Any:
    import numpy as np

    values = np.asarray(matrix)
    bound = max(float(np.abs(values).max()), 1e-12)
    image = axis.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound)
    axis.set_xticks(range(len(tasks)), tasks, rotation=90, fontsize=7)
    axis.set_yticks(range(len(tasks)), tasks, fontsize=7)
    axis.set_title(title, fontsize=9)
    lookahead = "lookahead" in title  # Z[i→j]: a step on i moves j's loss; cosines are symmetric
    axis.set_xlabel("loss of task j" if lookahead else "task j", fontsize=8)
    axis.set_ylabel("step on task i" if lookahead else "task i", fontsize=8)
    return image


def affinity_figure(record: dict[str, Any], path: Path) -> Path:
    """``affinity.png`` (and .svg): the lookahead matrix, then per shared stage the gradient
    cosines and (when measured) the stage's first-order share of the lookahead."""
    plt = _pyplot()
    tasks = record["tasks"]
    panels = [("lookahead affinity Z[i→j] (TAG)", record["lookahead"])]
    panels += [(f"gradient cosine, {stage}", m) for stage, m in record["stages"].items()]
    staged = record.get("stage_lookahead", {})
    panels += [(f"lookahead share, {stage}", m) for stage, m in staged.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for axis, (title, matrix) in zip(axes[0], panels, strict=True):
        fig.colorbar(_panel(axis, matrix, tasks, title), ax=axis, fraction=0.046, pad=0.04)
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def affinity_table(record: dict[str, Any]) -> Table:
    """TAG's lookahead affinity in %: row i, column j is how much a step on task i lowered task
    j's loss; then each task's group."""
    tasks = record["tasks"]
    rows = [
        [task, group, *(100 * v for v in values)]
        for task, group, values in zip(tasks, record["groups"], record["lookahead"], strict=True)
    ]
    title = f"lookahead affinity, % (step on row → loss of column; {record['measurements']} steps)"
    columns = [Column("step on", key=True), Column("group")]
    return Table(title, [*columns, *(Column(t, signed(2)) for t in tasks)], rows)
