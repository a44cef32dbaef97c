"""The record of a run's epochs: ``history.jsonl`` (rewritten atomically), a log line per epoch
and, when asked, TensorBoard scalars."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sharenas.engine.checkpoint import write_jsonl
from sharenas.errors import ConfigError
from sharenas.tasks import TaskHandler

log = logging.getLogger(__name__)


def _tensorboard(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "train.tensorboard is true but TensorBoard is not installed; "
            "pip install 'sharenas[tensorboard]'."
        ) from None
    return SummaryWriter(str(folder))


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The row's numbers as TensorBoard tags: ``loss/<task>``, ``val/<task>``, ``search/<key>``."""
    tags = {f"loss/{task}": value for task, value in row["train_loss"].items()}
    skip = {"epoch", "train_loss", "val", "loss_weights", "seconds"}
    for key, value in row.items():
        if key not in skip and isinstance(value, int | float) and not isinstance(value, bool):
            tags[f"search/{key}" if key not in ("lr", "val_score") else key] = float(value)
    return tags


class EpochLog:
    """Writes each epoch of a run to ``path`` (and to TensorBoard beside it when enabled)."""

    def __init__(self, path: Path, tensorboard: bool, label: str = "", epochs: int = 0) -> None:
        self.path, self.label, self.epochs = path, label, epochs
        self.writer = _tensorboard(path.parent / "tensorboard") if tensorboard else None

    def write(self, history: list[dict[str, Any]], handlers: list[TaskHandler], best: bool) -> None:
        """Record the epochs so far (``history.jsonl``, TensorBoard when on) and log the last
        one's validation scores (``best``: marked with ``*``, the best epoch so far)."""
        write_jsonl(self.path, history)
        row = history[-1]
        primary = {h.name: row["val"][h.name][h.primary] for h in handlers}
        if self.writer is not None:
            tags = {**scalars(row), **{f"val/{k}": v for k, v in primary.items()}}
            for tag, value in tags.items():
                self.writer.add_scalar(tag, value, row["epoch"])
        summary = ", ".join(f"{k} {v:.4g}" for k, v in primary.items())
        extra = row.get("summary")
        log.info(
            "%s epoch %d%s: val %s%s%s (%.1fs%s)",
            self.label,
            row["epoch"] + 1,  # one-based, as the progress bar counts
            f"/{self.epochs}" if self.epochs else "",
            summary,
            " *" if best else "",
            f"; {extra}" if extra else "",
            row["seconds"],
            self._eta(history),
        )

    def _eta(self, history: list[dict[str, Any]]) -> str:
        """``; about N s left`` from the mean epoch time (early stopping may end sooner)."""
        left = self.epochs - 1 - history[-1]["epoch"]
        if left <= 0:
            return ""
        mean = sum(float(r["seconds"]) for r in history) / len(history)
        return f"; about {mean * left:.0f}s left"

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self.writer is not None:
            self.writer.close()
