"""After a search: continue training the derived network from its inherited weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.engine.evaluate import primary_metrics
from sharenas.engine.trainer import Trainer
from sharenas.tasks import TaskHandler


def finetune_derived(
    config: Config,
    derived: nn.Module,
    handlers: list[TaskHandler],
    data: TaskSetData,
    epochs: int,
    out: Path,
) -> dict[str, Any]:
    """Continue training ``derived`` (inherited weights) for ``epochs`` epochs; test metrics at
    the best validation epoch."""
    settings = config.train.model_copy(update={"epochs": epochs})
    trainer = Trainer(derived, handlers, data, settings, out, seed=config.seed, progress=False)
    outcome = trainer.fit(resume=(out / "checkpoint.pt").exists())
    return {
        "tasks": outcome.test,
        "primary": primary_metrics(outcome.test, handlers),
        "epochs": epochs,
        "train_seconds": round(outcome.train_seconds, 3),
    }
