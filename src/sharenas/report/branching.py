"""The branching space's figures and words: the tree (stages bottom to top, one box per task
group, each joined to the group it splits) and the affinity it was cut from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.report.affinity import affinity_figure
from sharenas.report.figure import save_figure
from sharenas.report.space_figures import register_figures, register_words
from sharenas.spaces.branching_genotype import BranchingGenotype


def _positions(tree: BranchingGenotype) -> list[list[float]]:
    """x of every group of every stage: groups spread evenly, in task order."""
    return [[(g - (len(p) - 1) / 2) * 1.8 for g in range(len(p))] for p in tree.stages]


def tree_diagram(arch: dict[str, Any], path: Path) -> Path:
    """``tree.png``: the input at the bottom, a row per stage, the task heads on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tree = BranchingGenotype.from_dict(arch)
    xs = _positions(tree)
    width = max(len(p) for p in tree.stages)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.9 * width), 1.3 * (len(tree.stages) + 2)))
    for s, partition in enumerate(tree.stages):
        for g, group in enumerate(partition):
            below = (0.0, 0.0) if s == 0 else (xs[s - 1][tree.parent(s, g)], float(s))
            ax.plot([below[0], xs[s][g]], [below[1] + 0.2, s + 0.8], color="#4c72b0", lw=1)
            label = f"stage {s}\n" + ", ".join(group)
            box = {"facecolor": "#dde6f3", "edgecolor": "#4c72b0"}
            ax.text(xs[s][g], s + 1, label, ha="center", va="center", fontsize=7, bbox=box)
    ax.text(0, 0, "input", ha="center", va="center", fontsize=8)
    ax.set_xlim(-1.0 * width - 0.5, 1.0 * width + 0.5)
    ax.set_ylim(-0.5, len(tree.stages) + 0.6)
    ax.axis("off")
    ax.set_title("the searched tree: where the tasks branch", fontsize=9)
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


@register_figures("branching")
def branching_figures(arch: dict[str, Any], history: Path, folder: Path) -> dict[str, Path]:
    figures = {"architecture diagram": tree_diagram(arch, folder / "tree.png")}
    if "affinity" in arch:
        figures["affinity"] = affinity_figure(arch["affinity"], folder / "affinity.png")
    return figures


@register_words("branching")
def branching_words(arch: dict[str, Any]) -> list[str]:
    """The tree in words, for report.md."""
    if "tree" not in arch:
        return []
    tree = BranchingGenotype.from_dict(arch)
    lines = [
        f"- stage {s}: " + "; ".join(" + ".join(g) for g in p) for s, p in enumerate(tree.stages)
    ]
    price = arch.get("price_per_flop", 0.0)
    if price:
        lines.append(f"- cut to the FLOPs budget at a price of {price:.3g} per FLOP")
    return ["## The searched tree, in words", "\n".join(lines)]
