"""The synthetic two-task regression data of the MMoE paper (Ma et al., KDD 2018, §4.1).

Task correlation is controlled by ``p`` (the cosine between the two weight vectors):

1. draw orthonormal ``u1, u2`` in R^d;
2. ``w1 = c·u1``, ``w2 = c·(p·u1 + sqrt(1 − p²)·u2)``;
3. ``x ~ N(0, I)``;
4. ``y_k = w_kᵀx + Σ_{i=1..m} sin(a_i·w_kᵀx + b_i) + ε``, with ``a, b ~ N(0, 1)`` drawn once per
   dataset and ``ε ~ N(0, 0.01²)``.

Every array is a deterministic function of ``seed``; train/val/test are consecutive slices of one
draw (default 10,000 / 1,000 / 1,000 rows).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from sharenas.data.base import InputSpec, MultiTaskDataset, TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig
from sharenas.data.registry import register_dataset
from sharenas.tasks.spec import TaskKind, TaskSpec


class SyntheticMmoeConfig(DatasetConfig):
    name: Literal["synthetic-mmoe"] = "synthetic-mmoe"
    correlation: float = Field(0.5, ge=-1.0, le=1.0, description="Task correlation p.")
    dim: int = Field(100, ge=2, description="Input dimension d.")
    scale: float = Field(1.0, gt=0, description="Weight scale c.")
    sin_terms: int = Field(10, ge=0, description="Number m of sine terms.")
    noise: float = Field(0.01, ge=0, description="Standard deviation of ε.")
    train_size: int = Field(10_000, ge=1)
    val_size: int = Field(1_000, ge=1)
    test_size: int = Field(1_000, ge=1)
    seed: int = Field(0, ge=0)


def generate_mmoe(
    n: int,
    correlation: float,
    dim: int = 100,
    scale: float = 1.0,
    sin_terms: int = 10,
    noise: float = 0.01,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` with ``x`` (n, dim) and ``y`` (n, 2), float32 (MMoE paper, §4.1)."""
    # x's buffer first: a request beyond the machine's memory fails here at once, not after the
    # (slow, for a huge ``dim``) draws below; filling it later (``out=``) draws the same numbers.
    x = np.empty((n, dim))
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((dim, 2)))
    u1, u2 = u[:, 0], u[:, 1]
    w1 = scale * u1
    w2 = scale * (correlation * u1 + np.sqrt(1.0 - correlation**2) * u2)
    a = rng.standard_normal(sin_terms)
    b = rng.standard_normal(sin_terms)
    rng.standard_normal(out=x)
    ys = []
    for w in (w1, w2):
        z = x @ w
        y = z + np.sin(a[None, :] * z[:, None] + b[None, :]).sum(1)
        ys.append(y + noise * rng.standard_normal(n))
    return x.astype(np.float32), np.stack(ys, 1).astype(np.float32)


def consecutive_splits(
    x: np.ndarray, y: np.ndarray, tasks: list[TaskSpec], sizes: dict[str, int]
) -> dict[str, MultiTaskDataset]:
    """One generated draw (x: numeric inputs, y: a column per task) cut into consecutive
    splits of ``sizes`` rows."""
    splits, start = {}, 0
    for split, size in sizes.items():
        rows = slice(start, start + size)
        inputs = {"numeric": torch.from_numpy(x[rows])}
        targets = {t.name: torch.from_numpy(y[rows, k]) for k, t in enumerate(tasks)}
        splits[split] = MultiTaskDataset(inputs, targets, tasks)
        start += size
    return splits


@register_dataset
class SyntheticMmoe(DatasetBuilder):
    name = "synthetic-mmoe"
    description = "MMoE paper's synthetic regressions with controllable task correlation p"
    license = "generated (no licence needed)"
    source = "generated from the seed"
    generated = True
    config_class = SyntheticMmoeConfig
    config: SyntheticMmoeConfig

    def tasks(self) -> list[TaskSpec]:
        return [TaskSpec(name=f"task{k}", kind=TaskKind.REGRESSION) for k in (1, 2)]

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
        c = self.config
        sizes = self.split_sizes()
        x, y = generate_mmoe(
            sum(sizes.values()), c.correlation, c.dim, c.scale, c.sin_terms, c.noise, c.seed
        )
        tasks = self.tasks()
        return TaskSetData(
            self.name, tasks, self.input_spec(), consecutive_splits(x, y, tasks, sizes)
        )
