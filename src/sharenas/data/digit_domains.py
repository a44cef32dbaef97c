"""digit-domains: a small multi-domain task set in the manner of Visual Decathlon (Rebuffi et al.,
2017), the setting of Feature Partitioning (Newell et al., 2019). Every task has its own images:

- ``mnist``: MNIST digits;
- ``mnist_rot<A>``: other MNIST digits rotated by a fixed angle A (one task per angle);
- ``mnist_inverted``: other MNIST digits with inverted intensities;
- ``optdigits``: the UCI optical digits (8×8, 0–16) scaled to 0–255 and upsampled to 28×28.

Each MNIST-based domain takes its own disjoint block of MNIST's training digits (train, then val)
and of its test digits, so no digit appears in two domains or two splits. optdigits' 1,797 digits
are split by a fixed permutation (``seed``) into 1,197 train / 300 val / 300 test. Every task is
a 10-class classification of a 1×28×28 image. Generated arrays are cached and verified.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from sharenas.data.base import SPLITS, InputSpec, MultiDomainDataset, MultiTaskDataset, TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig
from sharenas.data.derived import cached_arrays, is_built
from sharenas.data.mnist import MNIST_SHA256, load_mnist, mnist_path
from sharenas.data.optdigits import OPTDIGITS_SHA256, load_optdigits, optdigits_path
from sharenas.data.registry import register_dataset
from sharenas.errors import ConfigError
from sharenas.tasks.spec import TaskKind, TaskSpec

SIDE = 28
OPTDIGITS_SPLITS = {"train": (0, 1197), "val": (1197, 1497), "test": (1497, 1797)}


class DigitDomainsConfig(DatasetConfig):
    name: Literal["digit-domains"] = "digit-domains"
    rotations: list[int] = Field(
        default_factory=lambda: [45, 90], description="One rotated-MNIST task per angle (degrees)."
    )
    inverted: bool = Field(True, description="Include the colour-inverted MNIST task.")
    optdigits: bool = Field(True, description="Include the UCI optdigits task.")
    train_size: int = Field(5000, ge=1, description="Training digits per MNIST-based domain.")
    val_size: int = Field(1000, ge=1, description="Validation digits per MNIST-based domain.")
    test_size: int = Field(1000, ge=1, description="Test digits per MNIST-based domain.")
    sampling: Literal["round-robin", "proportional"] = Field(
        "round-robin", description="Order of the tasks' batches in an epoch."
    )
    seed: int = Field(0, ge=0, description="Seed of the optdigits split.")


def rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    """uint8 (N, 28, 28) images rotated about their centre (bilinear, zero fill)."""
    if degrees % 360 == 0:
        return images.copy()
    x = torch.from_numpy(images).float().unsqueeze(1)
    angle = torch.tensor(np.deg2rad(degrees), dtype=torch.float32)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]]).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()


def upsample_optdigits(images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) counts 0–16 → (N, 28, 28) uint8 0–255, bilinear."""
    x = torch.from_numpy(images).float().unsqueeze(1) * (255.0 / 16.0)
    out = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    return out.squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()


@register_dataset
class DigitDomains(DatasetBuilder):
    name = "digit-domains"
    description = "multi-domain digits: MNIST, rotated MNIST, inverted MNIST, UCI optdigits"
    source = (
        "MNIST (see multimnist); UCI optdigits.tes, else the scikit-learn==1.5.2 wheel's "
        "sklearn/datasets/data/digits.csv.gz"
    )
    license = "MNIST: CC BY-SA 3.0; optdigits: CC BY 4.0 (UCI)"
    config_class = DigitDomainsConfig
    generator_version = 1
    config: DigitDomainsConfig

    def _mnist_domains(self) -> list[str]:
        names = ["mnist", *(f"mnist_rot{a}" for a in self.config.rotations)]
        return names + (["mnist_inverted"] if self.config.inverted else [])

    def tasks(self) -> list[TaskSpec]:
        names = self._mnist_domains() + (["optdigits"] if self.config.optdigits else [])
        if len(set(names)) != len(names):
            raise ConfigError(f"data.rotations: repeated angles give duplicate tasks {names}.")
        return [TaskSpec(name=n, kind=TaskKind.CLASSIFICATION, num_classes=10) for n in names]

    def input_spec(self) -> InputSpec:
        return InputSpec(kind="image", channels=1, height=SIDE, width=SIDE)

    def split_sizes(self) -> dict[str, int]:
        c, mnist = self.config, len(self._mnist_domains())
        sizes = {"train": c.train_size, "val": c.val_size, "test": c.test_size}
        return {
            split: mnist * n
            + (OPTDIGITS_SPLITS[split][1] - OPTDIGITS_SPLITS[split][0] if c.optdigits else 0)
            for split, n in sizes.items()
        }

    def _key(self, split: str) -> dict[str, Any]:
        return {
            "version": self.generator_version,
            "split": split,
            "mnist": MNIST_SHA256,
            "optdigits": OPTDIGITS_SHA256 if self.config.optdigits else None,
            **self.config.model_dump(
                exclude={
                    "name",
                    "module",
                    "data_dir",
                    "limit",
                    "sampling",
                    "drop_labels",  # applied after loading: the same build
                    "drop_labels_seed",
                }
            ),
        }

    def is_cached(self) -> bool:
        if all(is_built(self.cache_dir, self._key(split)) for split in SPLITS):
            return True
        return mnist_path(self.root).exists() and (
            not self.config.optdigits or optdigits_path(self.root).exists()
        )

    def _check_sizes(self) -> None:
        c, count = self.config, len(self._mnist_domains())
        if count * (c.train_size + c.val_size) > 60_000 or count * c.test_size > 10_000:
            raise ConfigError(
                f"data: {count} MNIST-based domains × (train_size {c.train_size} + val_size "
                f"{c.val_size}) must fit MNIST's 60,000 training digits, and × test_size "
                f"{c.test_size} its 10,000 test digits; lower the sizes or drop a rotation."
            )

    def _build(self, split: str) -> dict[str, np.ndarray]:
        c = self.config
        mnist = load_mnist(self.root, c.data_dir)
        per = {"train": c.train_size, "val": c.val_size, "test": c.test_size}[split]
        part = "test" if split == "test" else "train"
        offset = per * 0 if split != "val" else len(self._mnist_domains()) * c.train_size
        arrays: dict[str, np.ndarray] = {}
        for i, task in enumerate(self._mnist_domains()):
            start = offset + i * per
            images = mnist[f"x_{part}"][start : start + per]
            labels = mnist[f"y_{part}"][start : start + per].astype(np.int64)
            if task.startswith("mnist_rot"):
                images = rotate(images, float(task.removeprefix("mnist_rot")))
            elif task == "mnist_inverted":
                images = 255 - images
            arrays[f"x_{task}"], arrays[f"y_{task}"] = images[:, None], labels
        if c.optdigits:
            digits = load_optdigits(self.root, c.data_dir)
            order = np.random.default_rng(c.seed).permutation(len(digits["y"]))
            lo, hi = OPTDIGITS_SPLITS[split]
            rows = order[lo:hi]
            arrays["x_optdigits"] = upsample_optdigits(digits["x"][rows])[:, None]
            arrays["y_optdigits"] = digits["y"][rows].astype(np.int64)
        return arrays

    def _load(self) -> TaskSetData:
        self._check_sizes()
        tasks = self.tasks()
        splits = {}
        for split in SPLITS:
            arrays = cached_arrays(self.cache_dir, self._key(split), lambda s=split: self._build(s))
            domains = {
                t.name: MultiTaskDataset(
                    torch.from_numpy(arrays[f"x_{t.name}"]),
                    {t.name: torch.from_numpy(arrays[f"y_{t.name}"])},
                    [t],
                )
                for t in tasks
            }
            splits[split] = MultiDomainDataset(domains, self.config.sampling)
        return TaskSetData(self.name, tasks, self.input_spec(), splits, shape="multi-domain")
