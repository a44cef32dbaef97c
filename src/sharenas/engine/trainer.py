"""The trainer: the one epoch/step loop of sharenas, for plain training and every search.

Per epoch: the step's batches (order fixed by seed and epoch, so a resumed run sees the same
batches), one :class:`~sharenas.engine.step.TrainingStep` call per batch, then validation. Test
metrics are taken with the weights of the best validation epoch (or the last, for a step that
keeps its final state). A checkpoint is written atomically after every epoch; ``resume=True``
continues from it to exactly the result of an uninterrupted run (CPU).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharenas.data.base import Split, TaskSetData, shard
from sharenas.data.partial_labels import split_parts
from sharenas.engine.checkpoint import (
    CheckpointError,
    capture,
    load_checkpoint,
    load_weights,
    restore,
    save_checkpoint,
)
from sharenas.engine.config import TrainConfig
from sharenas.engine.distributed import average_gradients, init_distributed, resolve_device
from sharenas.engine.domain_norms import add_domain_norms
from sharenas.engine.evaluate import autocast, evaluate, primary_metrics, relative_score, to_device
from sharenas.engine.history import EpochLog
from sharenas.engine.losses import task_losses
from sharenas.engine.optim import create_optimizer, create_schedule
from sharenas.engine.progress import StepProgress
from sharenas.engine.step import PlainStep, StepInfo, TrainingStep
from sharenas.engine.sync_norm import synchronize_batch_norms
from sharenas.engine.task_subset import only_tasks
from sharenas.errors import ConfigError
from sharenas.resources import count_parameters, delivered, flops_per_example
from sharenas.run_files import BEST, CHECKPOINT, HISTORY
from sharenas.tasks import TaskHandler
from sharenas.weightings import create_weighting, head_inputs

log = logging.getLogger(__name__)


StepCallback = Callable[[StepInfo, dict[str, float]], None]


@dataclass
class TrainOutcome:
    test: dict[str, dict[str, float]] | None
    val: dict[str, dict[str, float]] | None
    best_epoch: int
    epochs_run: int
    train_seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    paused: bool = False  # stopped after ``fit(until=…)`` epochs; resume to finish it


def has_partial_labels(split: Split) -> bool:
    """Whether some row of ``split`` lacks the label of some task."""
    counts = [count for part in split_parts(split) for count in part.coverage().values()]
    return any(labelled < rows for labelled, rows in counts)


def _upgraded(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of sharenas 0.1 before the step contract (one optimiser, no step state) in
    today's layout, so that a run started then resumes."""
    if "optimizer" in state and "optimizer.weights" not in state:
        state["optimizer.weights"] = state.pop("optimizer")
    state.setdefault("step", {})
    return state


class Trainer:
    """Runs ``step`` (plain training by default) over ``model`` and ``data`` under ``config``,
    writing checkpoints and the history into ``run_dir``."""

    def __init__(
        self,
        model: nn.Module,
        handlers: list[TaskHandler],
        data: TaskSetData,
        config: TrainConfig,
        run_dir: Path,
        seed: int = 0,
        progress: bool = True,
        callbacks: list[StepCallback] | None = None,
        step: TrainingStep | None = None,
        label: str | None = None,
    ) -> None:
        self.config, self.handlers, self.data = config, handlers, data
        self.run_dir, self.seed = Path(run_dir), seed
        self.callbacks = callbacks or []
        self.step = step or PlainStep()
        self.label = label or self.step.label
        self.device = resolve_device(config.device)
        if config.threads:  # every run through the loop (training and every search) honours it
            torch.set_num_threads(config.threads)
        self.rank, self.world = init_distributed(self.device)
        if config.domain_norms and data.shape == "multi-domain":
            add_domain_norms(model, [t.name for t in data.tasks])
        self.model = model.to(self.device)
        self.weighting = create_weighting(
            config.weighting,
            [h.name for h in handlers],
            config.task_weights,
            config.weighting_options,
        ).to(self.device)
        self._features: Mapping[str, Any] | None = None  # head inputs of the last task_losses
        self._anchor: torch.Tensor | None = None  # DDP: 0 × the last forward's outputs
        self.partial_labels = has_partial_labels(data.train)
        self._check_weighting_under_ddp()
        self.amp = config.amp and self.device.type == "cuda"
        bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and not bf16)
        self.train_model = self._data_parallel(self.model)
        self.step.attach(self)
        self.optimizers = self.step.optimizers()
        self.steps_per_epoch = len(self.step.batches(0))
        self.total_steps = self.steps_per_epoch * config.epochs
        self.schedule = create_schedule(self.optimizers["weights"], config, self.total_steps)
        for callback in self.callbacks:  # a callback that inspects the run gets the trainer
            bind = getattr(callback, "bind", None)
            if callable(bind):
                bind(self)
        self.show_progress = progress and self.rank == 0
        self.log = EpochLog(
            self.run_dir / HISTORY,
            config.tensorboard and self.rank == 0,
            self.label,
            config.epochs,
        )

    def _check_weighting_under_ddp(self) -> None:
        """Per-task gradients need every process to hold every task's labels."""
        if self.world > 1 and self.partial_labels and self.weighting.per_task_gradients:
            raise ConfigError(
                f"train.weighting={self.config.weighting} under torchrun with partial labels: a "
                "process whose rows hold no label of a task cannot join the other processes' "
                "per-task gradients. Train in one process, or use equal, fixed, uncertainty or "
                "dwa."
            )

    def _data_parallel(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        if self.config.sync_batchnorm:
            synchronize_batch_norms(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # a multi-domain batch holds one task (the same on every rank: the batch order is a
        # function of seed and epoch), so the other tasks' heads get no gradient in that step
        # with partial labels a process's rows may hold no label of a task: the same
        unused = (
            self.step.unused_parameters or self.data.shape == "multi-domain" or self.partial_labels
        )
        return nn.parallel.DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=unused
        )

    # -- helpers a step uses -------------------------------------------------------------------
    def create_optimizer(self, params: Iterable[Any]) -> torch.optim.Optimizer:
        """The config's optimiser over ``params`` (tensors or parameter groups)."""
        return create_optimizer(params, self.config)

    def load(self, split: Split, item: Any) -> tuple[Any, dict[str, torch.Tensor]]:
        """This process's share of batch ``item`` of ``split``, on the device."""
        x, y = split.batch(shard(item, self.rank, self.world))
        return to_device(x, self.device), to_device(y, self.device)

    def loss(
        self, model: nn.Module, x: Any, y: dict[str, torch.Tensor], info: StepInfo, what: str = ""
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """(weighted total, per-task values) of ``model`` on a batch, under AMP on CUDA; a
        TrainingError naming the step when a loss is not finite. For steps that descend the
        total with :meth:`update` (architecture and policy steps)."""
        losses, values = self._losses(model, x, y, info, what, per_task=False)
        return self.weighting(losses), values

    def task_losses(
        self, model: nn.Module, x: Any, y: dict[str, torch.Tensor], info: StepInfo, what: str = ""
    ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """({task: loss}, per-task values) of ``model`` on a batch, for
        :meth:`weighted_update` (weight steps): as :meth:`loss`, without the weighting; the
        forward runs outside DDP's gradient synchronisation when the weighting differentiates
        each task on its own, and records the heads' inputs when it reads them."""
        return self._losses(model, x, y, info, what, per_task=True)

    def _losses(
        self,
        model: nn.Module,
        x: Any,
        y: dict[str, torch.Tensor],
        info: StepInfo,
        what: str,
        per_task: bool,
    ) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        with ExitStack() as stack:
            stack.enter_context(autocast(self.device, self.amp))
            stack.enter_context(only_tasks(model, y))
            unsynced = per_task and self.weighting.per_task_gradients
            if unsynced and isinstance(model, nn.parallel.DistributedDataParallel):
                stack.enter_context(model.no_sync())
            wants = per_task and self.weighting.wants_features
            self._features = stack.enter_context(head_inputs(model)) if wants else None
            predictions = model(x)
        if self.world > 1:  # what a process without any label backs through (DDP's graph)
            self._anchor = sum(0.0 * p.float().sum() for p in predictions.values())  # type: ignore[assignment]
        where = f"{what + ' ' if what else ''}epoch {info.epoch + 1}, step {info.step}"
        return task_losses(self.handlers, predictions, y, where, self.run_dir / CHECKPOINT)

    def update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward ``loss`` and step ``optimizer`` (gradient scaling under fp16 AMP; the loss
        weighting's own parameters averaged over processes)."""
        optimizer.zero_grad(set_to_none=True)
        if not loss.requires_grad:
            return self._step_without_labels(optimizer)
        self.scaler.scale(loss).backward()
        self._step(optimizer)

    def weighted_update(
        self, losses: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer
    ) -> torch.Tensor:
        """A weight step: the weighting's gradients of ``losses`` (from :meth:`task_losses`)
        over ``optimizer``'s parameters, then the optimiser step as in :meth:`update`. Returns
        the weighted total (detached)."""
        optimizer.zero_grad(set_to_none=True)
        if not losses:
            self._step_without_labels(optimizer)
            return torch.zeros(())
        own = {id(p) for p in self.weighting.parameters()}
        params = [p for g in optimizer.param_groups for p in g["params"] if id(p) not in own]
        features, self._features = self._features, None
        total = self.weighting.backward(losses, params, self.scaler, features)
        self._step(optimizer)
        return total

    def _step_without_labels(self, optimizer: torch.optim.Optimizer) -> None:
        """A batch without a label of any task (partial labels): nothing to learn, so one
        process skips the step; under DDP this process joins the others' gradient average with
        zeros (0 × its forward's outputs, the graph DDP expects), so that every process takes
        the same step."""
        if self.world == 1:
            return
        anchor, self._anchor = self._anchor, None
        if anchor is not None:
            anchor.backward()
        self._step(optimizer)

    def _step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.world > 1:
            average_gradients(list(self.weighting.parameters()), self.world)
        self.scaler.step(optimizer)
        self.scaler.update()

    def evaluate(self, split: Split, model: nn.Module | None = None) -> dict[str, dict[str, float]]:
        """Every task's metrics of ``model`` (default: the trained one) on ``split``, shared over
        processes."""
        return evaluate(
            model if model is not None else self.model,
            self.handlers,
            split,
            self.config.eval_batch_size,
            self.device,
            self.amp,
            self.rank,
            self.world,
        )

    # -- state ---------------------------------------------------------------------------------
    def _stateful(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weighting": self.weighting,
            **{f"optimizer.{name}": opt for name, opt in self.optimizers.items()},
            "schedule": self.schedule,
            "scaler": self.scaler,
        }

    def _save(
        self, epoch: int, history: list[dict[str, Any]], best: dict[str, Any], seconds: float
    ) -> None:
        state = capture(
            self._stateful(),
            epoch=epoch,
            history=history,
            best=best,
            train_seconds=seconds,
            step=self.step.state_dict(),
        )
        save_checkpoint(state, self.run_dir / CHECKPOINT)

    # -- loop ----------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, progress: StepProgress | None = None) -> dict[str, float]:
        """One pass over the step's batches; the mean of every value the step returned."""
        self.train_model.train()
        self.step.start_epoch(epoch)
        batches = self.step.batches(epoch)
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}  # per key: a task's loss is absent from other tasks' batches
        for i, batch in enumerate(batches):
            info = StepInfo(epoch, i, epoch * self.steps_per_epoch + i, self.total_steps)
            values = self.step.step(batch, info)
            self.schedule.step()
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
                counts[name] = counts.get(name, 0) + 1
            for callback in self.callbacks:
                callback(info, values)
            if progress is not None:
                progress.advance()
        return {name: total / counts[name] for name, total in sums.items()}

    def _task_means(self, means: dict[str, float]) -> dict[str, float]:
        """The epoch's mean training loss per task, averaged over processes (a task without a
        batch in the epoch, in every process, is left out)."""
        names = [h.name for h in self.handlers]
        both = torch.tensor(
            [[means.get(n, 0.0) for n in names], [float(n in means) for n in names]],
            dtype=torch.float64,
            device=self.device,
        )
        if self.world > 1:
            torch.distributed.all_reduce(both)
        return {n: float(both[0, i] / both[1, i]) for i, n in enumerate(names) if both[1, i] > 0}

    def _check_batch_norm(self) -> None:
        """Batch norm cannot train on batches of one example: refuse such a budget up front."""
        norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
        if not any(isinstance(m, norms) for m in self.model.modules()):
            return
        rows = len(self.data.train)
        if self.config.batch_size == 1 or rows == 1:
            raise ConfigError(
                f"train.batch_size={self.config.batch_size} with {rows:,} training rows: the "
                "model's batch norms need at least 2 rows per batch; raise train.batch_size "
                "(and give at least 2 training rows), or set the backbone's and towers' norm to "
                "layer or none."
            )

    def fit(
        self, resume: bool = False, test: bool = True, until: int | None = None
    ) -> TrainOutcome:
        """Train (continuing from the run folder's checkpoint when ``resume``); test metrics with
        the kept weights unless ``test`` is false. ``until``: pause after that many epochs of
        the configured schedule (a successive-halving rung); a later ``fit(resume=True)``
        continues as if never paused."""
        self._check_batch_norm()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        start, history, seconds = 0, [], 0.0
        best = {"score": -math.inf, "epoch": -1, "val": None, "reference": None, "stale": 0}
        if resume and (self.run_dir / CHECKPOINT).exists():
            state = self._resumed_state()
            start, history, best = state["epoch"] + 1, state["history"], state["best"]
            seconds = state["train_seconds"]
            log.info("resuming %s after epoch %d", self.run_dir, state["epoch"] + 1)
        remaining = (self.config.epochs - start) * self.steps_per_epoch
        with StepProgress(self.label, remaining, self.show_progress) as progress:
            last = self.config.epochs if until is None else min(until, self.config.epochs)
            for epoch in range(start, self.config.epochs):
                if best["stale"] >= (self.config.early_stopping or math.inf):
                    break
                if epoch >= last:
                    return self._paused(best, history, seconds)
                progress.describe(f"{self.label} · epoch {epoch + 1}/{self.config.epochs}")
                began = time.perf_counter()
                means = self.train_epoch(epoch, progress)
                self.weighting.epoch_end(self._task_means(means))
                record = self.step.end_epoch(epoch)
                took = time.perf_counter() - began
                seconds += took
                improved = self._validate(epoch, best)
                history.append(self._row(epoch, means, record, best, took))
                if self.rank == 0:
                    self.log.write(history, self.handlers, improved)
                    self._save(epoch, history, best, seconds)
        self.log.close()
        return self._outcome(best, history, seconds, test)

    def _paused(
        self, best: dict[str, Any], history: list[dict[str, Any]], seconds: float
    ) -> TrainOutcome:
        """The outcome of a run paused by ``fit(until=…)`` (its checkpoint saved; every rank
        returns once rank 0 has written it)."""
        self.log.close()
        if self.world > 1:
            torch.distributed.barrier()
        return TrainOutcome(None, best["val"], best["epoch"], len(history), seconds, history, True)

    def _resumed_state(self) -> dict[str, Any]:
        """The checkpoint's state, restored into the model, optimisers, step and RNGs."""
        path = self.run_dir / CHECKPOINT
        fix = f"delete {path.name} to start the run over, or restore the file"
        keys = ("model", "epoch", "history", "best", "train_seconds", "rng")
        state = _upgraded(load_checkpoint(path, self.device, keys, fix))
        try:
            restore(state, self._stateful())
            self.step.load_state_dict(state["step"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            reason = str(exc).strip().splitlines()[0][:200]
            raise CheckpointError(
                f"{path}: a checkpoint of another run or network ({reason}); {fix}."
            ) from None
        return state

    def _validate(self, epoch: int, best: dict[str, Any]) -> bool:
        """Score the epoch on validation; keep the best weights. Returns whether it improved."""
        val = self.step.score(self.data.val) or self.evaluate(self.data.val)
        primary = primary_metrics(val, self.handlers)
        if best["reference"] is None:
            best["reference"] = primary
        score = relative_score(primary, best["reference"], self.handlers)
        best["last"], best["last_score"] = val, score
        if score <= best["score"]:
            best["stale"] += 1
            return False
        best.update(score=score, epoch=epoch, val=val, stale=0)
        if self.rank == 0 and self.step.keep_best:
            save_checkpoint({"epoch": epoch, "model": self.model.state_dict()}, self.run_dir / BEST)
        return True

    def _row(
        self,
        epoch: int,
        means: dict[str, float],
        record: dict[str, Any],
        best: dict[str, Any],
        seconds: float,
    ) -> dict[str, Any]:
        names = {h.name for h in self.handlers}
        return {
            "epoch": epoch,
            "train_loss": {k: v for k, v in means.items() if k in names},
            **{k: v for k, v in means.items() if k not in names},
            **record,
            "val": best["last"],
            "val_score": best["last_score"],
            "lr": self.schedule.get_last_lr()[0],
            "loss_weights": self.weighting.weights(),
            "seconds": round(seconds, 3),
        }

    def _outcome(
        self, best: dict[str, Any], history: list[dict[str, Any]], seconds: float, test: bool
    ) -> TrainOutcome:
        if self.world > 1:
            torch.distributed.barrier()
        kept = best
        if self.step.keep_best:
            load_weights(self.model, self.run_dir / BEST, self.device)
        elif history:
            kept = {"epoch": history[-1]["epoch"], "val": history[-1]["val"]}
        return TrainOutcome(
            test=self.evaluate(self.data.test) if test else None,
            val=kept["val"],
            best_epoch=kept["epoch"],
            epochs_run=len(history),
            train_seconds=seconds,
            history=history,
        )

    def resources(self, model: nn.Module | None = None) -> dict[str, int]:
        """Parameters and FLOPs per example of ``model`` (default: the trained one), as it is
        delivered: a model with a ``deployed()`` method (a partitioned network) is counted as
        the network that method returns (physically pruned)."""
        model = delivered(model if model is not None else self.model).to(self.device)
        x = self.data.val.example(2)
        return {
            "params": count_parameters(model),
            "flops_per_example": flops_per_example(model, to_device(x, self.device)),
        }
