"""The multi-task trainer: one loop for every architecture and task set.

Per epoch: shuffled mini-batches (order fixed by seed and epoch, so a resumed run sees the same
batches), weighted sum of task losses, optimiser and schedule step; then validation. Test metrics
are taken with the weights of the best validation epoch. A checkpoint is written atomically after
every epoch; ``resume=True`` continues from it to exactly the result of an uninterrupted run (CPU).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from sharenas.data.base import Split, TaskSetData, shard
from sharenas.engine.checkpoint import (
    capture,
    load_checkpoint,
    restore,
    save_checkpoint,
    write_jsonl,
)
from sharenas.engine.config import TrainConfig
from sharenas.engine.distributed import average_gradients, init_distributed, resolve_device
from sharenas.engine.evaluate import autocast, evaluate, primary_metrics, relative_score, to_device
from sharenas.engine.losses import task_losses
from sharenas.engine.optim import create_optimizer, create_schedule
from sharenas.engine.weighting import create_weighting
from sharenas.resources import count_parameters, flops_per_example
from sharenas.tasks import TaskHandler

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
HISTORY = "history.jsonl"


@dataclass
class StepInfo:
    """What a step callback sees."""

    epoch: int
    step: int  # within the epoch
    global_step: int
    losses: dict[str, float]


@dataclass
class TrainOutcome:
    test: dict[str, dict[str, float]]
    val: dict[str, dict[str, float]]
    best_epoch: int
    epochs_run: int
    train_seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Trains ``model`` on ``data`` under ``config``, writing checkpoints into ``run_dir``."""

    def __init__(
        self,
        model: nn.Module,
        handlers: list[TaskHandler],
        data: TaskSetData,
        config: TrainConfig,
        run_dir: Path,
        seed: int = 0,
        progress: bool = True,
        callbacks: list[Callable[[StepInfo], None]] | None = None,
    ) -> None:
        self.config = config
        self.handlers = handlers
        self.data = data
        self.run_dir = Path(run_dir)
        self.seed = seed
        self.callbacks = callbacks or []
        self.device = resolve_device(config.device)
        self.rank, self.world = init_distributed(self.device)
        if self.world > 1 and data.shape == "multi-domain":
            from sharenas.errors import ConfigError

            raise ConfigError(
                f"{data.name} is a multi-domain task set, which trains in one process for now "
                "(a batch holds one task, so other heads get no gradient, which DDP rejects); "
                "run it without torchrun."
            )
        self.model = model.to(self.device)
        self.weighting = create_weighting(
            config.weighting, [h.name for h in handlers], config.task_weights
        ).to(self.device)
        self.optimizer = create_optimizer(
            list(self.model.parameters()) + list(self.weighting.parameters()), config
        )
        steps = len(data.train.batches(config.batch_size, seed, 0, config.max_batches))
        self.schedule = create_schedule(self.optimizer, config, steps * config.epochs)
        self.amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp and not torch.cuda.is_bf16_supported()
        )
        self.train_model: nn.Module = self.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.show_progress = progress and self.rank == 0 and sys.stderr.isatty()
        self.writer = self._tensorboard() if config.tensorboard and self.rank == 0 else None

    # -- state ---------------------------------------------------------------------------------
    def _tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            from sharenas.errors import ConfigError

            raise ConfigError(
                "train.tensorboard is true but TensorBoard is not installed; "
                "pip install 'sharenas[tensorboard]'."
            ) from None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _stateful(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weighting": self.weighting,
            "optimizer": self.optimizer,
            "schedule": self.schedule,
            "scaler": self.scaler,
        }

    # -- loop ----------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, progress: Progress | None = None) -> dict[str, float]:
        config = self.config
        self.train_model.train()
        batches = self.data.train.batches(config.batch_size, self.seed, epoch, config.max_batches)
        bar = progress.add_task(f"epoch {epoch}", total=len(batches)) if progress else None
        sums = dict.fromkeys([h.name for h in self.handlers], 0.0)
        counts = dict.fromkeys(sums, 0)  # batches per task (fewer than all in multi-domain sets)
        for step, index in enumerate(batches):
            x, y = self.data.train.batch(shard(index, self.rank, self.world))
            x, y = to_device(x, self.device), to_device(y, self.device)
            with autocast(self.device, self.amp):
                predictions = self.train_model(x)
            losses, values = task_losses(
                self.handlers,
                predictions,
                y,
                f"epoch {epoch}, step {step}",
                self.run_dir / CHECKPOINT,
            )
            total = self.weighting(losses)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(total).backward()
            if self.world > 1:
                average_gradients(list(self.weighting.parameters()), self.world)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.schedule.step()
            for name, value in values.items():
                sums[name] += value
                counts[name] += 1
            global_step = epoch * len(batches) + step
            for callback in self.callbacks:
                callback(StepInfo(epoch, step, global_step, values))
            if progress is not None and bar is not None:
                progress.update(bar, advance=1)
        if progress is not None and bar is not None:
            progress.remove_task(bar)
        return {name: total / max(1, counts[name]) for name, total in sums.items()}

    def _evaluate(self, dataset: Split) -> dict[str, dict[str, float]]:
        return evaluate(
            self.model,
            self.handlers,
            dataset,
            self.config.eval_batch_size,
            self.device,
            self.amp,
            self.rank,
            self.world,
        )

    def fit(self, resume: bool = False) -> TrainOutcome:
        """Train (continuing from the run folder's checkpoint when ``resume``)."""
        config = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        start, history = 0, []
        best = {"score": -math.inf, "epoch": -1, "val": None, "reference": None, "stale": 0}
        train_seconds = 0.0
        checkpoint = self.run_dir / CHECKPOINT
        if resume and checkpoint.exists():
            state = load_checkpoint(checkpoint, self.device)
            restore(state, self._stateful())
            start, history = state["epoch"] + 1, state["history"]
            best, train_seconds = state["best"], state["train_seconds"]
            log.info("resuming %s after epoch %d", self.run_dir, state["epoch"])
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, transient=True, disable=not self.show_progress) as progress:
            for epoch in range(start, config.epochs):
                if best["stale"] >= (config.early_stopping or math.inf):
                    break
                began = time.perf_counter()
                train_losses = self.train_epoch(epoch, progress if self.show_progress else None)
                seconds = time.perf_counter() - began
                train_seconds += seconds
                val = self._evaluate(self.data.val)
                primary = primary_metrics(val, self.handlers)
                if best["reference"] is None:
                    best["reference"] = primary
                score = relative_score(primary, best["reference"], self.handlers)
                improved = score > best["score"]
                if improved:
                    best.update(score=score, epoch=epoch, val=val, stale=0)
                    if self.rank == 0:
                        save_checkpoint(
                            {"epoch": epoch, "model": self.model.state_dict()}, self.run_dir / BEST
                        )
                else:
                    best["stale"] += 1
                row = {
                    "epoch": epoch,
                    "train_loss": train_losses,
                    "val": val,
                    "val_score": score,
                    "lr": self.schedule.get_last_lr()[0],
                    "loss_weights": self.weighting.weights(),
                    "seconds": round(seconds, 3),
                }
                history.append(row)
                if self.rank == 0:
                    write_jsonl(self.run_dir / HISTORY, history)
                    state = capture(
                        self._stateful(),
                        epoch=epoch,
                        history=history,
                        best=best,
                        train_seconds=train_seconds,
                    )
                    save_checkpoint(state, checkpoint)
                    if self.writer is not None:
                        for name, value in train_losses.items():
                            self.writer.add_scalar(f"loss/{name}", value, epoch)
                        for name, value in primary.items():
                            self.writer.add_scalar(f"val/{name}", value, epoch)
                    summary = ", ".join(f"{k} {v:.4g}" for k, v in primary.items())
                    log.info(
                        "epoch %d: val %s%s (%.1fs)",
                        epoch,
                        summary,
                        " *" if improved else "",
                        seconds,
                    )
        if self.writer is not None:
            self.writer.close()
        if self.world > 1:
            torch.distributed.barrier()
        self.model.load_state_dict(load_checkpoint(self.run_dir / BEST, self.device)["model"])
        test = self._evaluate(self.data.test)
        return TrainOutcome(
            test=test,
            val=best["val"],
            best_epoch=best["epoch"],
            epochs_run=len(history),
            train_seconds=train_seconds,
            history=history,
        )

    def resources(self) -> dict[str, int]:
        x = self.data.val.example(2)
        return {
            "params": count_parameters(self.model),
            "flops_per_example": flops_per_example(self.model, to_device(x, self.device)),
        }
