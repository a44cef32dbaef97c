"""The opening paragraphs of a search's report.md, so that it stands alone: what was searched
(the space, its paper and the strategy), the budget every model shared, and the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.config import Config
from sharenas.search.base import delivered_words
from sharenas.search.registry import strategy_class


def intro_lines(config: Config, sizes: dict[str, int], record: dict[str, Any]) -> list[str]:
    """What was searched, how, and the budget every model of the table shared."""
    settings, train = config.searched, config.train
    strategy = strategy_class(str(settings.strategy))
    derived = delivered_words(record) if "derive" in record else settings.derive
    searched = (
        f"**What was searched**: {settings.space_spec.summary}, by "
        f"{strategy.summary}; delivered model: {derived}."
    )
    stopping = (
        f" (early stopping after {train.early_stopping} epochs without gain)"
        if train.early_stopping
        else ""
    )
    budget = (
        f"**Budget**, the same for every model below: {train.epochs} epochs{stopping}, "
        f"batch {train.batch_size}, "
        f"learning rate {train.lr:g}, backbone {config.model.backbone.name}; "
        f"{sizes['train']:,} training, {sizes['val']:,} validation and {sizes['test']:,} test "
        f"rows; seed {config.seed}. The search took {record.get('search_seconds', 0):.0f} s."
    )
    return [searched, budget, "Test metrics (Δ_MTL against single-task, same seed):"]


def figure_lines(files: dict[str, Path], folder: Path) -> list[str]:
    """Markdown images of the space's figures, linked relative to the report."""
    return [
        f"![{name}]({Path(path).relative_to(folder).as_posix()})" for name, path in files.items()
    ]
