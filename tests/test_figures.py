"""Report figures read like a paper's: fitted and labelled axes, error bars over seeds, the
searched model highlighted, no label drawn over another, for 2, 3 and 4 tasks."""

from __future__ import annotations

from itertools import combinations
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
