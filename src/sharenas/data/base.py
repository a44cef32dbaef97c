"""Containers every dataset returns: input declaration, multi-task splits, and the task set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch.utils.data import Dataset

from sharenas.tasks.labels import coverage, mark_missing
from sharenas.tasks.spec import TaskKind, TaskSpec

if TYPE_CHECKING:
    from sharenas.data.preprocessing import Preprocessing

Inputs = torch.Tensor | dict[str, torch.Tensor]
Targets = dict[str, torch.Tensor]

SPLITS = ("train", "val", "test")

_LONG_KINDS = (TaskKind.CLASSIFICATION, TaskKind.SEGMENTATION)


class InputSpec(BaseModel):
    """What the network reads: an image tensor or a table's numeric and categorical columns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["image", "tabular"]
    channels: int | None = None
    height: int | None = None
    width: int | None = None
    num_numeric: int = 0
    categorical_cardinalities: tuple[int, ...] = ()
    numeric_names: tuple[str, ...] = ()
    categorical_names: tuple[str, ...] = ()

    def describe(self) -> str:
        """The input in words: ``image C×H×W`` or the table's numeric and categorical columns."""
        if self.kind == "image":
            return f"image {self.channels}×{self.height}×{self.width}"
        return (
            f"table: {self.num_numeric} numeric + "
            f"{len(self.categorical_cardinalities)} categorical columns"
        )


def _decode_input(tensor: torch.Tensor) -> torch.Tensor:
    """Stored inputs are compact (uint8 images, float16 maps); the network reads float32/int64."""
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    if tensor.dtype == torch.float16:
        return tensor.float()
    if tensor.dtype in (torch.int8, torch.int16, torch.int32):
        return tensor.long()
    return tensor


def _decode_target(tensor: torch.Tensor, kind: TaskKind) -> torch.Tensor:
    if kind in _LONG_KINDS:
        return tensor.long()
    return tensor.float()


class MultiTaskDataset(Dataset):
    """One split of a multi-output task set: ``dataset[i] == (x, {task: target})``.

    Tensors are held in memory in compact dtypes. :meth:`batch` gathers many rows at once and is
    what the trainer uses; ``__getitem__`` keeps the ``torch.utils.data.Dataset`` protocol.
    A task's label may be missing for some rows: marked in its targets
    (:mod:`sharenas.tasks.labels`), or given as ``labelled`` (a boolean per row of a task), which
    marks the others.
    """

    def __init__(
        self,
        inputs: Inputs,
        targets: Targets,
        tasks: list[TaskSpec],
        labelled: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        self.inputs = inputs
        self.tasks = {task.name: task for task in tasks}
        lengths = {len(t) for t in self._input_tensors()} | {len(t) for t in targets.values()}
        if len(lengths) != 1:
            raise ValueError(f"inputs and targets have different lengths: {sorted(lengths)}")
        missing = set(self.tasks) - set(targets)
        if missing:
            raise ValueError(f"no targets for tasks {sorted(missing)}")
        self._length = lengths.pop()
        self.targets = _marked(targets, self.tasks, labelled or {})

    def coverage(self) -> dict[str, tuple[int, int]]:
        """Per task: (labelled rows, rows)."""
        return {name: coverage(spec, self.targets[name]) for name, spec in self.tasks.items()}

    def _input_tensors(self) -> list[torch.Tensor]:
        if isinstance(self.inputs, Mapping):
            return list(self.inputs.values())
        return [self.inputs]

    def __len__(self) -> int:
        return self._length

    def batch(self, index: torch.Tensor | slice) -> tuple[Inputs, Targets]:
        """Rows ``index`` as decoded float/long tensors."""
        if isinstance(self.inputs, Mapping):
            x: Inputs = {key: _decode_input(value[index]) for key, value in self.inputs.items()}
        else:
            x = _decode_input(self.inputs[index])
        y = {
            name: _decode_target(self.targets[name][index], spec.kind)
            for name, spec in self.tasks.items()
        }
        return x, y

    def __getitem__(self, i: int) -> tuple[Inputs, Targets]:
        x, y = self.batch(torch.tensor([i]))
        x = {key: value[0] for key, value in x.items()} if isinstance(x, dict) else x[0]
        return x, {name: value[0] for name, value in y.items()}

    def batches(
        self, batch_size: int, seed: int, epoch: int, max_batches: int | None = None
    ) -> list[torch.Tensor]:
        """The epoch's shuffled index batches, a function of (seed, epoch) only."""
        batches = shuffled_batches(torch.arange(len(self)), batch_size, epoch_key(seed, epoch))
        return batches[:max_batches] if max_batches else batches

    def example(self, n: int = 2) -> Inputs:
        """The inputs of the first ``n`` rows (for shapes, FLOP counts)."""
        return self.batch(slice(0, n))[0]

    def take(self, n: int) -> MultiTaskDataset:
        """The first ``n`` rows (a view): small slices for smoke runs and tests."""
        n = min(n, len(self))
        if isinstance(self.inputs, Mapping):
            inputs: Inputs = {key: value[:n] for key, value in self.inputs.items()}
        else:
            inputs = self.inputs[:n]
        targets = {name: value[:n] for name, value in self.targets.items()}
        return MultiTaskDataset(inputs, targets, list(self.tasks.values()))


def _marked(
    targets: Targets, tasks: dict[str, TaskSpec], labelled: Mapping[str, torch.Tensor]
) -> Targets:
    """``targets`` with the rows ``labelled`` leaves out marked missing."""
    unknown = sorted(set(labelled) - set(tasks))
    if unknown:
        raise ValueError(f"labelled names tasks that are not declared: {unknown}")
    marked = dict(targets)
    for name, rows in labelled.items():
        if rows.shape != (len(targets[name]),) or rows.dtype != torch.bool:
            raise ValueError(
                f"labelled[{name!r}] must be a boolean tensor with one value per row "
                f"({len(targets[name])}), not {rows.dtype} {tuple(rows.shape)}"
            )
        marked[name] = mark_missing(tasks[name], targets[name], rows)
    return marked


def epoch_key(seed: int, epoch: int) -> int:
    """The seed of an epoch's random order: a function of (run seed, epoch) only, so a resumed
    run draws what an uninterrupted one would."""
    return seed * 1_000_003 + epoch


def shuffled_batches(rows: torch.Tensor, batch_size: int, key: int) -> list[torch.Tensor]:
    """``rows`` in the order fixed by ``key`` (see :func:`epoch_key`), split into batches; a last
    batch of one row joins the one before (batch norm cannot train on a single example)."""
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(key))
    batches = list(rows[order].split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


DomainBatch = tuple[str, torch.Tensor]  # (task, row indices of that task's own dataset)


class MultiDomainDataset:
    """One split of a multi-domain task set: every task has its own rows (images and labels),
    as in Visual Decathlon. A batch holds one task's rows and that task's targets only.

    ``sampling`` orders an epoch's batches: ``round-robin`` takes one batch per task in turn
    (smaller tasks simply run out earlier), ``proportional`` draws the task of each batch at
    random in proportion to its size. Either way every row of every task is seen once per epoch.
    """

    def __init__(
        self,
        domains: dict[str, MultiTaskDataset],
        sampling: Literal["round-robin", "proportional"] = "round-robin",
    ) -> None:
        for task, dataset in domains.items():
            if list(dataset.tasks) != [task]:
                raise ValueError(f"domain {task!r} must hold exactly its own task's targets")
        self.domains = domains
        self.sampling = sampling

    @property
    def tasks(self) -> dict[str, TaskSpec]:
        """Every domain's task, by name (one task per domain)."""
        return {name: d.tasks[name] for name, d in self.domains.items()}

    def __len__(self) -> int:
        return sum(len(d) for d in self.domains.values())

    def sizes(self) -> dict[str, int]:
        """Rows per task (each domain's own rows)."""
        return {name: len(d) for name, d in self.domains.items()}

    def batches(
        self, batch_size: int, seed: int, epoch: int, max_batches: int | None = None
    ) -> list[DomainBatch]:
        """The epoch's (task, rows) batches, a function of (seed, epoch) only."""
        per_task = {
            name: [(name, b) for b in d.batches(batch_size, seed + 7 * i, epoch)]
            for i, (name, d) in enumerate(self.domains.items())
        }
        order = self.interleave(per_task, seed, epoch)
        return order[:max_batches] if max_batches else order

    def interleave(self, per_task: dict[str, list[Any]], seed: int, epoch: int) -> list[Any]:
        """Every task's items in one order, as ``sampling`` says: one task after the other
        (round-robin), or each position's task drawn in proportion to what is left
        (proportional), a function of (seed, epoch) only."""
        order: list[Any] = []
        if self.sampling == "round-robin":
            for step in range(max(len(b) for b in per_task.values())):
                order += [b[step] for b in per_task.values() if step < len(b)]
            return order
        names = [name for name, b in per_task.items() for _ in b]
        generator = torch.Generator().manual_seed(epoch_key(seed, epoch) + 17)
        taken = dict.fromkeys(per_task, 0)
        for i in torch.randperm(len(names), generator=generator).tolist():
            name = names[i]
            order.append(per_task[name][taken[name]])
            taken[name] += 1
        return order

    def batch(self, item: DomainBatch) -> tuple[Inputs, Targets]:
        """The rows of one (task, rows) batch, as that task's domain decodes them."""
        task, index = item
        return self.domains[task].batch(index)

    def example(self, n: int = 2) -> Inputs:
        """The inputs of the first domain's first ``n`` rows (for shapes, FLOP counts)."""
        return next(iter(self.domains.values())).example(n)

    def take(self, n: int) -> MultiDomainDataset:
        """The first ``n`` rows of every task."""
        return MultiDomainDataset({k: d.take(n) for k, d in self.domains.items()}, self.sampling)


Split = MultiTaskDataset | MultiDomainDataset


def shard(item: torch.Tensor | DomainBatch, rank: int, world: int) -> torch.Tensor | DomainBatch:
    """This process's share of a batch (every world-th row)."""
    if isinstance(item, tuple):
        return item[0], item[1][rank::world]
    return item[rank::world]


@dataclass
class TaskSetData:
    """A loaded task set: its tasks, what the network reads, and the train/val/test splits."""

    name: str
    tasks: list[TaskSpec]
    input_spec: InputSpec
    splits: dict[str, Split]
    shape: Literal["multi-output", "multi-domain"] = "multi-output"
    notes: dict[str, str] = field(default_factory=dict)
    preprocessing: Preprocessing | None = None  # fitted encodings, for new raw rows

    def fitted_preprocessing(self) -> Preprocessing:
        """The task set's fitted preprocessing; the generic record (images as stored, numeric
        columns as they are) for datasets that fit none."""
        from sharenas.data.preprocessing import default_preprocessing

        return self.preprocessing or default_preprocessing(self.input_spec, self.tasks)

    @property
    def train(self) -> Split:
        """The training split."""
        return self.splits["train"]

    @property
    def val(self) -> Split:
        """The validation split (early stopping, searches' architecture steps, choices)."""
        return self.splits["val"]

    @property
    def test(self) -> Split:
        """The test split (reported, never used to choose)."""
        return self.splits["test"]

    def sizes(self) -> dict[str, int]:
        """Rows per split: ``{"train": …, "val": …, "test": …}``."""
        return {split: len(data) for split, data in self.splits.items()}


def task_targets(split: Split, task: str) -> torch.Tensor:
    """Every target of ``task`` in ``split`` (a multi-domain split: its own domain's rows)."""
    rows = split.domains[task] if isinstance(split, MultiDomainDataset) else split
    return rows.targets[task]
