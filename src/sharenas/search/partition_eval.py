"""Evaluating a channel partition (Feature Partitioning, Newell et al., 2019, Sec. 4).

- ``full``: train the partitioned network with the config's budget; the score of a task is its
  validation primary metric at the best epoch.
- ``distill``: the quick proxy. Single-task teachers are trained once and cached by dataset,
  model, budget and seed. For a partition, a student made of the masked stages (fresh weights,
  shared by the tasks, each task through its masks) reads each teacher's frozen features from
  before those stages. It is trained briefly (``distill_steps``) to match the teachers' features
  after them (MSE). Each task is scored by its teacher's head on the student's features.

Both return the scores (signed so that higher is better, with the raw metric kept) and the
partition's resources from its masks.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharenas.cache import cache_root, file_lock
from sharenas.config import Config
from sharenas.data.base import MultiDomainDataset, TaskSetData
from sharenas.data.derived import key_digest
from sharenas.engine.checkpoint import load_checkpoint
from sharenas.engine.distributed import resolve_device
from sharenas.engine.evaluate import primary_metrics, to_device
from sharenas.engine.run import build_model, task_handlers, train, with_arch
from sharenas.engine.trainer import BEST, Trainer
from sharenas.search.partition_config import PartitionEvalConfig
from sharenas.spaces.partition import PartitionGenotype, PartitionSpace
from sharenas.spaces.partition_network import PartitionNetwork
from sharenas.spaces.partition_resources import partition_resources


@dataclass
class Evaluation:
    """The scores of one partition: per task, the validation primary metric."""

    primary: dict[str, float]
    higher_is_better: dict[str, bool]
    per_task_flops: dict[str, int]
    total_flops: int
    total_params: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def score(self, task: str) -> float:
        """Higher is better."""
        value = self.primary[task]
        return value if self.higher_is_better[task] else -value

    def to_dict(self) -> dict[str, Any]:
        return {
            "primary": self.primary,
            "higher_is_better": self.higher_is_better,
            "per_task_flops": self.per_task_flops,
            "total_flops": self.total_flops,
            "total_params": self.total_params,
            "seconds": round(self.seconds, 3),
            **self.extra,
        }


def _resources(network: PartitionNetwork, data: TaskSetData) -> dict[str, Any]:
    resources = partition_resources(network.cpu(), data.val.example(2))
    return {
        "per_task_flops": resources.per_task_flops,
        "total_flops": resources.total_flops,
        "total_params": resources.total_params,
    }


class PartitionEvaluator(ABC):
    """Scores partitions of ``space`` on ``data`` under ``config``'s budget."""

    def __init__(
        self,
        config: Config,
        data: TaskSetData,
        space: PartitionSpace,
        settings: PartitionEvalConfig,
    ) -> None:
        self.config, self.data, self.space, self.settings = config, data, space, settings
        self.handlers = task_handlers(data)
        self.directions = {h.name: h.higher_is_better for h in self.handlers}

    @abstractmethod
    def evaluate(self, genotype: PartitionGenotype, folder: Path) -> Evaluation:
        """The partition's validation scores and resources; its files go in ``folder``."""


class FullEvaluator(PartitionEvaluator):
    """Train the partitioned network from scratch with the config's budget."""

    def evaluate(self, genotype: PartitionGenotype, folder: Path) -> Evaluation:
        began = time.perf_counter()
        torch.manual_seed(self.config.seed)
        network = self.space.build(genotype)
        resources = _resources(network, self.data)
        budget = self.config.train.model_copy(
            update={"epochs": self.settings.epochs or self.config.train.epochs}
        )
        trainer = Trainer(
            network, self.handlers, self.data, budget, folder, self.config.seed, progress=False
        )
        outcome = trainer.fit(resume=(folder / "checkpoint.pt").exists())
        assert outcome.val is not None
        return Evaluation(
            primary_metrics(outcome.val, self.handlers),
            self.directions,
            seconds=time.perf_counter() - began,
            extra={"evaluator": "full", "best_epoch": outcome.best_epoch},
            **resources,
        )


def teacher_folder(config: Config) -> Path:
    """Where the single-task teachers of ``config`` are cached."""
    key = {
        "data": config.data.model_dump(mode="json", exclude={"data_dir"}),
        "backbone": config.model.backbone.model_dump(mode="json"),
        "tower": list(config.model.tower),
        "train": config.train.model_dump(mode="json", exclude={"device", "threads"}),
        "seed": config.seed,
    }
    return cache_root() / "teachers" / key_digest(key)


def load_teachers(config: Config, data: TaskSetData) -> nn.Module:
    """The trained single-task model (one backbone and head per task), trained once and cached."""
    folder = teacher_folder(config)
    teacher_config = with_arch(config, "single-task")
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if not (folder / "metrics.json").exists():
            train(
                teacher_config,
                folder,
                data=data,
                progress=False,
                resume=(folder / "checkpoint.pt").exists(),
            )
    model, _ = build_model(teacher_config, data)
    model.load_state_dict(load_checkpoint(folder / BEST)["model"])
    return model.eval()


class DistillEvaluator(PartitionEvaluator):
    """Score a partition by how well its masked stages reproduce the teachers' features."""

    def __init__(
        self,
        config: Config,
        data: TaskSetData,
        space: PartitionSpace,
        settings: PartitionEvalConfig,
    ) -> None:
        super().__init__(config, data, space, settings)
        self.device = resolve_device(config.train.device)
        self.teachers = load_teachers(config, data).to(self.device)
        for p in self.teachers.parameters():
            p.requires_grad_(False)
        self.first = space.stages[0]

    def _teacher_features(self, task: str, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(features entering the first masked stage, features leaving the last stage)."""
        backbone = self.teachers.backbones[task]
        h = backbone.stem(x)
        for stage in backbone.stages[: self.first]:
            h = stage(h)
        before = h
        for stage in backbone.stages[self.first :]:
            h = stage(h)
        return before, h

    def _student_features(self, student: PartitionNetwork, t: int, h: torch.Tensor) -> torch.Tensor:
        return student.task_features(h, t, self.first)

    def _rows(self, split: Any, task: str) -> Any:
        return split.domains[task] if isinstance(split, MultiDomainDataset) else split

    def evaluate(self, genotype: PartitionGenotype, folder: Path) -> Evaluation:
        began = time.perf_counter()
        torch.manual_seed(self.config.seed)
        student = self.space.build(genotype)
        resources = _resources(student, self.data)
        student.to(self.device).train()
        parameters = [p for s in student.backbone.stages[self.first :] for p in s.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=self.settings.distill_lr)
        generator = torch.Generator().manual_seed(self.config.seed)
        names = [h.name for h in self.handlers]
        losses = []
        for _ in range(self.settings.distill_steps):
            total = torch.zeros((), device=self.device)
            for t, task in enumerate(names):
                rows = self._rows(self.data.train, task)
                index = torch.randint(
                    len(rows), (self.settings.distill_batch,), generator=generator
                )
                x, _ = rows.batch(index)
                x = to_device(x, self.device)
                with torch.no_grad():
                    before, target = self._teacher_features(task, x)
                output = self._student_features(student, t, before)
                total = total + torch.nn.functional.mse_loss(output, target)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            losses.append(float(total.detach()))
        student.eval()
        primary = self._score(student)
        (folder / "distill.json").parent.mkdir(parents=True, exist_ok=True)
        (folder / "distill.json").write_text(json.dumps({"loss": losses[-10:]}))
        return Evaluation(
            primary,
            self.directions,
            seconds=time.perf_counter() - began,
            extra={"evaluator": "distill", "final_mse": sum(losses[-10:]) / len(losses[-10:])},
            **resources,
        )

    @torch.no_grad()
    def _score(self, student: PartitionNetwork) -> dict[str, float]:
        """Each teacher's head on the student's features, over the task's validation rows."""
        results = {}
        batch = self.config.train.eval_batch_size
        for t, handler in enumerate(self.handlers):
            rows = self._rows(self.data.val, handler.name)
            if self.settings.distill_val_rows is not None:
                rows = rows.take(self.settings.distill_val_rows)
            metric = handler.metric().to(self.device)
            for start in range(0, len(rows), batch):
                x, y = rows.batch(slice(start, start + batch))
                x, y = to_device(x, self.device), to_device(y, self.device)
                before, _ = self._teacher_features(handler.name, x)
                features = self._student_features(student, t, before)
                prediction = self.teachers.heads[handler.name](features)
                metric.update(prediction.float(), y[handler.name])
            results[handler.name] = float(metric.compute()[handler.primary])
        return results


def create_evaluator(
    config: Config, data: TaskSetData, space: PartitionSpace, settings: PartitionEvalConfig
) -> PartitionEvaluator:
    if settings.evaluator == "full":
        return FullEvaluator(config, data, space, settings)
    return DistillEvaluator(config, data, space, settings)
