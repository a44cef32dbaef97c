"""Task groups with known structure: the MMoE generator (Ma et al., KDD 2018, §4.1) for T tasks
in G groups, tasks of one group correlated ``p_in``, tasks of different groups ``p_out`` (0: no
relation; negative: the tasks pull a shared representation apart).

1. the correlation matrix C (T×T): 1 on the diagonal, ``p_in`` inside a group, ``p_out`` across
   groups; it must be a correlation matrix (positive semi-definite), which bounds ``p_out`` from
   below for a given ``p_in`` and group sizes (the config's error says the bound: −0.927 for the
   default groups 5 + 3 at ``p_in`` 0.9);
2. C = L Lᵀ; orthonormal u_1…u_T in R^d; w_k = c · Σ_j L_kj u_j, so w_k·w_l = c² C_kl;
3. x ~ N(0, I); y_k = w_kᵀx + Σ_{i=1..m} sin(a_i·w_kᵀx + b_i) + ε as in MMoE (a, b ~ N(0, 1) once
   per dataset, ε ~ N(0, noise²));
4. ``kind: binary`` labels y_k above its median over all rows.

The best sharing is known by construction: one branch per group (the tasks of a group share a
network, groups share nothing). Every array is a deterministic function of ``seed``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sharenas.data.base import InputSpec, TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig
from sharenas.data.registry import register_dataset
from sharenas.data.synthetic_mmoe import consecutive_splits
from sharenas.tasks.spec import TaskKind, TaskSpec


class SyntheticGroupsConfig(DatasetConfig):
    name: Literal["synthetic-groups"] = "synthetic-groups"
    groups: list[int] = Field(
        default_factory=lambda: [5, 3],
        min_length=1,
        description="Tasks per group (T = their sum); group g's tasks are g{g}t{k}.",
    )
    p_in: float = Field(0.9, ge=-1.0, le=1.0, description="Correlation of two tasks of a group.")
    p_out: float = Field(
        0.0, ge=-1.0, le=1.0, description="Correlation of two tasks of different groups."
    )
    kind: Literal["regression", "binary"] = Field("regression", description="Every task's kind.")
    dim: int = Field(100, ge=2, le=100_000, description="Input dimension d (at least T).")
    scale: float = Field(1.0, gt=0, description="Weight scale c.")
    sin_terms: int = Field(10, ge=0, le=1000, description="Number m of sine terms.")
    noise: float = Field(0.01, ge=0, description="Standard deviation of ε.")
    train_size: int = Field(10_000, ge=1)
    val_size: int = Field(1_000, ge=1)
    test_size: int = Field(1_000, ge=1)
    seed: int = Field(0, ge=0, lt=2**32)

    @model_validator(mode="after")
    def _fits(self) -> SyntheticGroupsConfig:
        if any(size < 1 for size in self.groups):
            raise ValueError("every group needs at least one task")
        if sum(self.groups) > 64:
            raise ValueError(f"{sum(self.groups)} tasks; at most 64")
        if self.dim < sum(self.groups):
            raise ValueError(f"dim {self.dim} is below the {sum(self.groups)} tasks; raise dim")
        matrix = correlation_matrix(self.groups, self.p_in, self.p_out)
        if np.linalg.eigvalsh(matrix).min() < -1e-9:
            raise ValueError(
                f"p_in={self.p_in}, p_out={self.p_out} with groups {self.groups} is not a valid "
                "correlation structure (the tasks cannot all be that anti-correlated); use "
                f"p_out ≥ {lowest_p_out(self.groups, self.p_in):.3f}, fewer groups, or a "
                "lower p_in"
            )
        return self


def group_of(groups: list[int]) -> list[int]:
    """Each task's group index, in task order."""
    return [g for g, size in enumerate(groups) for _ in range(size)]


def task_names(groups: list[int]) -> list[str]:
    return [f"g{g}t{k}" for g, size in enumerate(groups) for k in range(size)]


def correlation_matrix(groups: list[int], p_in: float, p_out: float) -> np.ndarray:
    owner = np.array(group_of(groups))
    same = owner[:, None] == owner[None, :]
    matrix = np.where(same, p_in, p_out).astype(np.float64)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def lowest_p_out(groups: list[int], p_in: float) -> float:
    """The smallest ``p_out`` for which C is a correlation matrix (bisection on its smallest
    eigenvalue, which grows with ``p_out`` up to 0)."""
    low, high = -1.0, 0.0
    for _ in range(50):
        middle = (low + high) / 2
        if np.linalg.eigvalsh(correlation_matrix(groups, p_in, middle)).min() < -1e-9:
            low = middle
        else:
            high = middle
    return high


def task_weights(config: SyntheticGroupsConfig, rng: np.random.Generator) -> np.ndarray:
    """The T task vectors w_k (T × d) with w_k·w_l = c² C_kl."""
    matrix = correlation_matrix(config.groups, config.p_in, config.p_out)
    values, vectors = np.linalg.eigh(matrix)  # the config checked that C is one (values ≥ 0)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))  # C = root rootᵀ
    basis, _ = np.linalg.qr(rng.standard_normal((config.dim, len(matrix))))
    return config.scale * root @ basis.T


def generate_groups(config: SyntheticGroupsConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: x (n, d) float32, y (n, T) float32 (regression values or 0/1 labels)."""
    rng = np.random.default_rng(config.seed)
    weights = task_weights(config, rng)
    a = rng.standard_normal(config.sin_terms)
    b = rng.standard_normal(config.sin_terms)
    x = rng.standard_normal((n, config.dim))
    z = x @ weights.T  # (n, T)
    y = z + np.sin(a[None, None, :] * z[:, :, None] + b[None, None, :]).sum(-1)
    y = y + config.noise * rng.standard_normal(y.shape)
    if config.kind == "binary":
        y = (y > np.median(y, axis=0, keepdims=True)).astype(np.float64)
    return x.astype(np.float32), y.astype(np.float32)


@register_dataset
class SyntheticGroups(DatasetBuilder):
    name = "synthetic-groups"
    description = "T tasks in G groups of known correlation p_in inside, p_out across"
    license = "generated (no licence needed)"
    source = "generated from the seed"
    generated = True
    config_class = SyntheticGroupsConfig
    config: SyntheticGroupsConfig

    def tasks(self) -> list[TaskSpec]:
        kind = TaskKind.BINARY if self.config.kind == "binary" else TaskKind.REGRESSION
        return [TaskSpec(name=name, kind=kind) for name in task_names(self.config.groups)]

    def input_spec(self) -> InputSpec:
        return InputSpec(
            kind="tabular",
            num_numeric=self.config.dim,
            numeric_names=tuple(f"x{i}" for i in range(self.config.dim)),
        )

    def split_sizes(self) -> dict[str, int]:
        c = self.config
        return {"train": c.train_size, "val": c.val_size, "test": c.test_size}

    def _load(self) -> TaskSetData:
        sizes = self.split_sizes()
        x, y = generate_groups(self.config, sum(sizes.values()))
        tasks = self.tasks()
        return TaskSetData(
            self.name, tasks, self.input_spec(), consecutive_splits(x, y, tasks, sizes)
        )
