"""Evaluating a channel partition (Feature Partitioning, Newell et al., 2019, Sec. 4).

- ``full``: train the partitioned network with the config's budget; the score of a task is its
  validation primary metric at the best epoch.
- ``short`` (the default): the same for a fraction of the budget (``short_fraction``).
- ``distill``: the quick proxy. Single-task teachers are trained once and cached by dataset,
  model, budget and seed. For a partition, a student made of the masked stages (fresh weights,
  shared by the tasks, each task through its masks) reads each teacher's frozen features from
  before those stages. It is trained briefly (``distill_steps``) to match the teachers' features
  after them (MSE), optionally through a linear map per task (``distill_adapters``, off by
  default: see :class:`TaskAdapters`). Each task is scored by its teacher's head on them.

Both return the scores (signed so that higher is better, with the raw metric kept) and the
partition's resources from its masks.
"""

from __future__ import annotations

import functools
import logging
import math
import shutil
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharenas.backbones.pretrained import weights_skipped
from sharenas.cache import cache_root, file_lock, manifest_ok, sha256_file, write_manifest
from sharenas.config import Config
from sharenas.data.base import MultiDomainDataset, Split, TaskSetData
from sharenas.data.derived import key_digest
from sharenas.engine.checkpoint import CheckpointError, load_weights
from sharenas.engine.config import TrainConfig
from sharenas.engine.distributed import resolve_device
from sharenas.engine.evaluate import primary_metrics, to_device
from sharenas.engine.step import StepInfo, TrainingStep
from sharenas.engine.trainer import Trainer, TrainOutcome
from sharenas.errors import ConfigError
from sharenas.run_files import read_record
from sharenas.runs.folder import BEST, with_arch
from sharenas.runs.training import build_model, start_heads, task_handlers, train
from sharenas.spaces.partition import PartitionGenotype, PartitionSpace
from sharenas.spaces.partition_config import PartitionEvalConfig
from sharenas.spaces.partition_network import PartitionNetwork
from sharenas.spaces.partition_resources import partition_resources
from sharenas.tasks.labels import labelled_part

log = logging.getLogger(__name__)


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
        self.prepare()

    def prepare(self) -> None:  # noqa: B027  (optional hook)
        """What the evaluator needs before its first partition (e.g. trained teachers)."""

    @abstractmethod
    def evaluate(self, genotype: PartitionGenotype, folder: Path) -> Evaluation:
        """The partition's validation scores and resources; its files go in ``folder``."""

    def start_network(self, genotype: PartitionGenotype) -> tuple[PartitionNetwork, dict[str, Any]]:
        """The partitioned network, seeded, with its heads started; and its resources."""
        torch.manual_seed(self.config.seed)
        network = start_heads(self.space.build(genotype), self.config, self.handlers, self.data)
        return network, _resources(network, self.data)

    def train_trial(
        self,
        network: nn.Module,
        budget: TrainConfig,
        folder: Path,
        label: str,
        step: TrainingStep | None = None,
        test: bool = True,
    ) -> TrainOutcome:
        """Train ``network`` quietly under ``budget`` in ``folder`` (resuming its checkpoint);
        the outcome holds its validation metrics (``val``)."""
        trainer = Trainer(
            network,
            self.handlers,
            self.data,
            budget,
            folder,
            self.config.seed,
            progress=False,
            step=step,
            label=f"trial {folder.name}: {label}",
        )
        outcome = trainer.fit(resume=(folder / "checkpoint.pt").exists(), test=test)
        assert outcome.val is not None
        return outcome


class FullEvaluator(PartitionEvaluator):
    """Train the partitioned network from scratch with the config's budget."""

    name = "full"

    def epochs(self) -> int:
        return self.settings.epochs or self.config.train.epochs

    def evaluate(self, genotype: PartitionGenotype, folder: Path) -> Evaluation:
        began = time.perf_counter()
        network, resources = self.start_network(genotype)
        budget = self.config.train.model_copy(update={"epochs": self.epochs()})
        outcome = self.train_trial(network, budget, folder, f"{self.name} training")
        return Evaluation(
            primary_metrics(outcome.val, self.handlers),
            self.directions,
            seconds=time.perf_counter() - began,
            extra={"evaluator": self.name, "best_epoch": outcome.best_epoch},
            **resources,
        )


class ShortEvaluator(FullEvaluator):
    """Train the partitioned network from scratch for a fraction of the budget (the usual
    low-fidelity estimate of multi-fidelity NAS). On planted groups it ranks partitions like full
    training where the paper's distillation proxy ranks them backwards (BENCHMARKS.md)."""

    name = "short"

    def epochs(self) -> int:
        fraction = self.settings.short_fraction
        return self.settings.epochs or max(1, math.ceil(self.config.train.epochs * fraction))


def _file_digests(data: Any) -> dict[str, str]:
    """The SHA-256 of every file the data config names (a user's CSV): a cache is keyed on what
    it was built from, not on a path whose contents may change."""
    digests = {}
    for name, value in data:
        if isinstance(value, Path) and value.is_file():
            stat = value.stat()
            digests[name] = _digest(str(value.resolve()), stat.st_size, stat.st_mtime_ns)
    return digests


@functools.lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


#: settings added after teachers were first cached, left out of the key at these values so
#: that the teachers cached before them are found again
_LATER_DEFAULTS = {"drop_labels": {}, "drop_labels_seed": None, "weighting_options": {}}


def _set(section: dict[str, Any]) -> dict[str, Any]:
    """``section`` without the later settings left at their defaults."""
    return {k: v for k, v in section.items() if k not in _LATER_DEFAULTS or v != _LATER_DEFAULTS[k]}


def teacher_folder(config: Config) -> Path:
    """Where the single-task teachers of ``config`` are cached: keyed on the data config, the
    contents of the files it names, the model's backbone and towers, the budget and the seed."""
    key: dict[str, Any] = {
        "data": _set(config.data.model_dump(mode="json", exclude={"data_dir", "module"})),
        "backbone": config.model.backbone.model_dump(mode="json"),
        "tower": list(config.model.tower),
        "tower_norm": config.model.tower_norm,
        "head_bias": config.model.head_bias,
        "train": _set(config.train.model_dump(mode="json", exclude={"device", "threads"})),
        "seed": config.seed,
    }
    files = _file_digests(config.data)
    if files:  # (a data set generated or fetched by sharenas is already verified by its cache)
        key["files"] = files
    return cache_root() / "teachers" / key_digest(key)


TEACHER_FILES = ["best.pt", "metrics.json", "config.yaml"]


def reference_folder(config: Config) -> Path:
    """The run every partition is scored against: ``search.evaluation.reference`` (short and
    full evaluators), else the single-task teachers."""
    evaluation = config.searched.evaluation
    if evaluation.reference and evaluation.evaluator != "distill":
        return Path(evaluation.reference)
    return teacher_folder(config)


def reference_label(config: Config) -> str:
    """How the partition report names the reference."""
    folder = reference_folder(config)
    if folder == teacher_folder(config):
        return "single-task"
    arch = read_record(folder / "metrics.json").get("arch", folder.name)
    return f"{arch} (reference run)"


def check_reference(config: Config, handlers: list[Any]) -> None:
    """A clear error where ``search.evaluation.reference`` is not a finished run with the
    validation and test metrics of every task, and its FLOPs and parameters."""
    reference = config.searched.evaluation.reference
    if not reference:
        return
    metrics = Path(reference) / "metrics.json"
    record = read_record(metrics) if metrics.is_file() else {}
    val, test = record.get("val") or {}, record.get("primary") or {}
    missing = [
        h.name for h in handlers if h.primary not in val.get(h.name, {}) or h.name not in test
    ]
    if not record or missing or not {"flops_per_example", "params"} <= set(record):
        unfinished = (
            "it is not a finished run folder (metrics.json with val, primary, FLOPs, params)"
        )
        why = (
            f"it has no metrics of task(s) {', '.join(missing)}"
            if record and missing
            else unfinished
        )
        raise ConfigError(
            f"search.evaluation.reference: {reference}: {why}; give a run of this task set "
            "trained with the same data and epochs (a path relative to the working directory "
            "or absolute), or leave the setting out to train single-task teachers."
        )


def _train_teachers(config: Config, data: TaskSetData, folder: Path) -> None:
    """Train the teachers into ``folder`` (resuming a readable checkpoint), then record the
    checksums of the files the search reads."""
    resume = (folder / "checkpoint.pt").exists()
    try:
        train(with_arch(config, "single-task"), folder, data=data, progress=False, resume=resume)
    except CheckpointError as exc:  # a damaged checkpoint of an unfinished teacher: start over
        log.warning("%s; training the teachers again", exc)
        shutil.rmtree(folder)
        train(with_arch(config, "single-task"), folder, data=data, progress=False)
    write_manifest(folder, TEACHER_FILES)


def load_teachers(config: Config, data: TaskSetData) -> nn.Module:
    """The trained single-task model (one backbone and head per task), trained once and cached.
    A cached teacher whose files fail their checksums (damaged, or changed by someone else) is
    trained again, like a dataset cache."""
    folder = teacher_folder(config)
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if (folder / "metrics.json").exists() and not manifest_ok(folder):
            log.warning("cached teachers in %s fail their checksums; training them again", folder)
            shutil.rmtree(folder)
        if not (folder / "metrics.json").exists():
            _train_teachers(config, data, folder)
    with weights_skipped():  # best.pt holds the trained teachers
        model, _ = build_model(with_arch(config, "single-task"), data)
    return load_weights(model, folder / BEST, "cpu", f"delete {folder} to train them again").eval()


class TaskAdapters(nn.Module):
    """One linear map per task over the channel dimension (dimension 1), starting as the
    identity: the student's task features are read through it by the loss and the teacher's
    head. Without it a task given k of C channels must reproduce all C teacher features with
    C − k of them zero, which ranks share-all first whatever the tasks (BENCHMARKS.md)."""

    def __init__(self, tasks: int, channels: int, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self.weight = nn.Parameter(torch.eye(channels).repeat(tasks, 1, 1), requires_grad=enabled)

    def forward(self, features: torch.Tensor, task: int) -> torch.Tensor:
        if not self.enabled:
            return features
        return torch.einsum("nc...,dc->nd...", features, self.weight[task])


class DistillStep(TrainingStep):
    """The distillation proxy as a training step: each step, every task's rows go through the
    frozen teacher up to the first masked stage; the student's masked stages (task ``t`` through
    its masks) are trained to match the teacher's features after them (sum of per-task MSE)."""

    keep_best = False
    label = "distill"

    def __init__(
        self, evaluator: DistillEvaluator, student: PartitionNetwork, adapters: TaskAdapters
    ) -> None:
        self.evaluator, self.student, self.adapters = evaluator, student, adapters

    def attach(self, trainer: Any) -> None:
        super().attach(trainer)
        first = self.evaluator.first
        params = [p for s in self.student.backbone.stages[first:] for p in s.parameters()]
        params += [p for p in self.adapters.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=self.evaluator.settings.distill_lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"weights": self.optimizer}

    def state_dict(self) -> dict[str, Any]:
        return {"adapters": self.adapters.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "adapters" in state:
            self.adapters.load_state_dict(state["adapters"])

    def batches(self, epoch: int) -> list[dict[str, torch.Tensor]]:
        """``distill_steps`` draws of ``distill_batch`` rows per task, fixed by the seed."""
        settings, data = self.evaluator.settings, self.trainer.data
        generator = torch.Generator().manual_seed(self.trainer.seed)
        names = [h.name for h in self.trainer.handlers]
        sizes = {task: len(self.evaluator.rows(data.train, task)) for task in names}
        return [
            {
                task: torch.randint(sizes[task], (settings.distill_batch,), generator=generator)
                for task in names
            }
            for _ in range(settings.distill_steps)
        ]

    def step(self, batch: dict[str, torch.Tensor], info: StepInfo) -> dict[str, float]:
        device = self.trainer.device
        total = torch.zeros((), device=device)
        for t, (task, index) in enumerate(batch.items()):
            x, _ = self.evaluator.rows(self.trainer.data.train, task).batch(index)
            with torch.no_grad():
                before, target = self.evaluator.teacher_features(task, to_device(x, device))
            output = self.student.task_features(before, t, self.evaluator.first)
            output = self.adapters(output, t)
            total = total + torch.nn.functional.mse_loss(output, target)
        self.trainer.update(total, self.optimizer)
        return {"mse": float(total.detach())}

    def score(self, split: Split) -> dict[str, dict[str, float]]:
        """Each teacher's head on the student's features, over the task's rows of ``split``."""
        return self.evaluator.score(self.student, split, self.adapters)


class DistillEvaluator(PartitionEvaluator):
    """Score a partition by how well its masked stages reproduce the teachers' features."""

    def prepare(self) -> None:
        """The frozen single-task teachers (trained once, cached)."""
        self.device = resolve_device(self.config.train.device)
        self.teachers = load_teachers(self.config, self.data).to(self.device)
        for p in self.teachers.parameters():
            p.requires_grad_(False)
        self.first = self.space.stages[0]

    def teacher_features(self, task: str, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(features entering the first masked stage, features leaving the last stage)."""
        backbone = self.teachers.backbones[task]
        h = backbone.stem(x)
        for stage in backbone.stages[: self.first]:
            h = stage(h)
        before = h
        for stage in backbone.stages[self.first :]:
            h = stage(h)
        return before, h

    @staticmethod
    def rows(split: Any, task: str) -> Any:
        return split.domains[task] if isinstance(split, MultiDomainDataset) else split

    def evaluate(self, genotype: PartitionGenotype, folder: Path) -> Evaluation:
        began = time.perf_counter()
        student, resources = self.start_network(genotype)
        budget = self.config.train.model_copy(
            update={"epochs": 1, "schedule": "constant", "early_stopping": None, "amp": False}
        )
        adapters = self.adapters(len(self.handlers)).to(self.device)
        step = DistillStep(self, student, adapters)
        outcome = self.train_trial(student, budget, folder, "distill", step, test=False)
        final_mse = outcome.history[-1]["mse"]
        return Evaluation(
            primary_metrics(outcome.val, self.handlers),
            self.directions,
            seconds=time.perf_counter() - began,
            extra={"evaluator": "distill", "final_mse": final_mse},
            **resources,
        )

    def adapters(self, tasks: int) -> TaskAdapters:
        """Identity maps over the teachers' output channels (``distill_adapters``)."""
        x, _ = self.rows(self.data.train, self.handlers[0].name).batch(slice(0, 2))
        with torch.no_grad():
            _, features = self.teacher_features(self.handlers[0].name, to_device(x, self.device))
        return TaskAdapters(tasks, features.shape[1], self.settings.distill_adapters)

    @torch.no_grad()
    def score(
        self, student: PartitionNetwork, split: Split, adapters: TaskAdapters
    ) -> dict[str, dict[str, float]]:
        """``{task: {primary: value}}``: each teacher's head on the student's features over the
        task's rows of ``split`` (at most ``distill_val_rows``)."""
        results = {}
        batch = self.config.train.eval_batch_size
        student.eval()
        for t, handler in enumerate(self.handlers):
            rows = self.rows(split, handler.name)
            if self.settings.distill_val_rows is not None:
                rows = rows.take(self.settings.distill_val_rows)
            metric = handler.metric().to(self.device)
            for start in range(0, len(rows), batch):
                x, y = rows.batch(slice(start, start + batch))
                x, y = to_device(x, self.device), to_device(y, self.device)
                before, _ = self.teacher_features(handler.name, x)
                features = adapters(student.task_features(before, t, self.first), t)
                prediction = self.teachers.heads[handler.name](features)
                labelled = labelled_part(handler.spec, prediction, y[handler.name])
                if labelled is not None:  # partial labels: scored on the labelled rows
                    metric.update(labelled[0].float(), labelled[1])
            results[handler.name] = {handler.primary: float(metric.compute()[handler.primary])}
        student.train()
        return results


def create_evaluator(
    config: Config, data: TaskSetData, space: PartitionSpace, settings: PartitionEvalConfig
) -> PartitionEvaluator:
    kinds = {"full": FullEvaluator, "short": ShortEvaluator, "distill": DistillEvaluator}
    return kinds[settings.evaluator](config, data, space, settings)
