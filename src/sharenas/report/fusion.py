"""Pictures of a fusion search: the architecture (tasks as columns, stages as rows, kept edges
drawn with their probability) and the gate probabilities over the search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sharenas.report.figure import save_figure
from sharenas.spaces.fusion import Edge


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def architecture_diagram(arch: dict[str, Any], path: Path) -> Path:
    """Tasks as columns, stages as rows (``arch["stages"]``); kept edges solid with p, pruned
    ones faint."""
    plt = _pyplot()
    stages: dict[str, int] = arch["stages"]
    tasks = list(stages)
    depth = max(stages.values())
    fig, ax = plt.subplots(figsize=(2.4 * len(tasks) + 1, 1.1 * depth + 1.2))
    position = {(t, i): (c * 2.4, -i * 1.1) for c, t in enumerate(tasks) for i in range(stages[t])}
    for (task, stage), (x, y) in position.items():
        ax.add_patch(
            plt.Rectangle((x - 0.55, y - 0.25), 1.1, 0.5, facecolor="#dde6f3", edgecolor="#4c72b0")
        )
        ax.text(x, y, f"{task}\nstage {stage}", ha="center", va="center", fontsize=7)
    for candidate in arch["candidates"]:
        edge = Edge.parse(candidate["edge"])
        (x0, y0) = position[(edge.source, edge.source_stage)]
        (x1, y1) = position[(edge.target, edge.target_stage)]
        kept, p = candidate["kept"], candidate["probability"]
        ax.annotate(
            "",
            xy=(x1 - 0.55 if x1 > x0 else x1 + 0.55, y1),
            xytext=(x0 + 0.55 if x1 > x0 else x0 - 0.55, y0),
            arrowprops={
                "arrowstyle": "->",
                "color": "#c44e52" if kept else "#bbbbbb",
                "lw": 1.6 if kept else 0.6,
                "ls": "-" if kept else ":",
                "connectionstyle": "arc3,rad=0.15",
            },
        )
        if kept:
            ax.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2 + 0.12,
                f"{p:.2f}",
                fontsize=7,
                color="#c44e52",
                ha="center",
            )
    ax.set_xlim(-1, 2.4 * (len(tasks) - 1) + 1)
    ax.set_ylim(-1.1 * (depth - 1) - 0.6, 0.6)
    ax.axis("off")
    kept_count = sum(c["kept"] for c in arch["candidates"])
    ax.set_title(f"fusion edges kept: {kept_count} of {len(arch['candidates'])}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def gate_history_plot(history_path: Path, path: Path) -> Path:
    """Every edge's gate probability after each search epoch, and the final histogram."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    rows = [json.loads(line) for line in history_path.read_text().splitlines() if line]
    edges = list(rows[0]["probabilities"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = [r["epoch"] for r in rows]
    for edge in edges:
        left.plot(epochs, [r["probabilities"][edge] for r in rows], lw=1)
    left.axhline(0.5, color="#888888", lw=0.8, ls="--")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("epoch")
    left.set_ylabel("σ(α)")
    left.set_title("gate probabilities during the search", fontsize=9)
    right.hist(
        [rows[-1]["probabilities"][e] for e in edges], bins=20, range=(0, 1), color="#4c72b0"
    )
    right.set_xlabel("final σ(α)")
    right.set_title("final gate values", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path
