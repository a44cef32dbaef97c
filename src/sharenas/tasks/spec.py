"""Task declarations: what each prediction target is.

A dataset declares its tasks as :class:`TaskSpec` values; heads, losses and metrics are built from
the declaration, never from the dataset's code.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, model_validator


class TaskKind(str, Enum):
    """The kinds of target sharenas knows."""

    CLASSIFICATION = "classification"  # one of ``num_classes`` labels (int64)
    BINARY = "binary"  # 0/1 label (float32)
    REGRESSION = "regression"  # ``dims`` real values (float32)
    SEGMENTATION = "segmentation"  # per-pixel label in [0, num_classes) or ``ignore_index``
    DEPTH = "depth"  # per-pixel depth, 1 channel; non-positive values are invalid pixels
    NORMAL = "normal"  # per-pixel unit normal, 3 channels; all-zero vectors are invalid pixels


class TaskSpec(BaseModel):
    """One task of a task set: its name, kind and output size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: TaskKind
    num_classes: int | None = None
    dims: int = 1
    ignore_index: int | None = None
    target_mean: tuple[float, ...] | None = None  # regression: training mean per dimension
    target_std: tuple[float, ...] | None = None  # … and standard deviation (both: standardised)

    @model_validator(mode="after")
    def _check_sizes(self) -> TaskSpec:
        needs_classes = self.kind in (TaskKind.CLASSIFICATION, TaskKind.SEGMENTATION)
        if needs_classes and (self.num_classes is None or self.num_classes < 2):
            raise ValueError(f"task {self.name!r} of kind {self.kind.value} needs num_classes >= 2")
        if not needs_classes and self.num_classes is not None:
            raise ValueError(f"task {self.name!r} of kind {self.kind.value} takes no num_classes")
        scaled = (self.target_mean, self.target_std)
        if any(v is not None for v in scaled) and (
            self.kind is not TaskKind.REGRESSION
            or any(v is None or len(v) != self.dims for v in scaled)
            or any(not s > 0 for s in self.target_std or ())
        ):
            raise ValueError(
                f"task {self.name!r}: target_mean and target_std are a regression task's "
                f"training statistics, {self.dims} each, std > 0"
            )
        if self.kind is TaskKind.NORMAL and self.dims != 3:
            raise ValueError(f"task {self.name!r} of kind normal has dims 3, not {self.dims}")
        return self

    @property
    def dense(self) -> bool:
        """Whether the target is a per-pixel map."""
        return self.kind in (TaskKind.SEGMENTATION, TaskKind.DEPTH, TaskKind.NORMAL)

    def describe(self) -> str:
        """A short human-readable description, e.g. ``classification (10 classes)``."""
        if self.num_classes is not None:
            return f"{self.kind.value} ({self.num_classes} classes)"
        if self.dims != 1 or self.kind is TaskKind.NORMAL:
            return f"{self.kind.value} ({self.dims} dims)"
        return self.kind.value
