"""The opening paragraphs of a search's report.md, so that it stands alone: what was searched
(the space, its paper and the strategy), the budget every model shared, and the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.config import Config

SPACES = {
    "fusion": "which feature-fusion edges between the tasks' networks to keep "
    "(MTL-NAS, Gao et al., CVPR 2020)",
    "routing": "which sub-networks every layer and every task tower reads "
    "(MTNAS, Chen et al. 2020)",
}
STRATEGIES = {
    "gradient": "gradient descent on the edges' gates, the supernet's weights delivered "
    "without retraining (single-shot)",
    "reinforce": "a REINFORCE policy over routes, the chosen route retrained",
    "gumbel": "Gumbel-softmax relaxation of the routes, the chosen route retrained",
    "random": "random search: the best on validation of the drawn architectures",
}


def intro_lines(config: Config, sizes: dict[str, int], record: dict[str, Any]) -> list[str]:
    """What was searched, how, and the budget every model of the table shared."""
    assert config.search is not None
    space, strategy = config.search.space, config.search.strategy or ""
    train = config.train
    searched = (
        f"**What was searched**: {SPACES.get(space, space)}, by "
        f"{STRATEGIES.get(strategy, strategy)}; derived model: {config.search.derive}."
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
    return [f"![{name}]({Path(path).relative_to(folder)})" for name, path in files.items()]
