"""MultiMNIST: two (or three) MNIST digits overlaid on one canvas, one task per digit.

Each canvas (default 36×36) holds digits shifted at random: the horizontal range
``[0, canvas - 28]`` is cut into one band per digit (left, [middle,] right), each digit's offset
is drawn inside its band and its vertical offset anywhere; pixels are combined by maximum. The
left digit of split sample ``i`` is digit ``i`` of that split's MNIST digits, the others are drawn
at random from the same split. Generation is deterministic in ``seed``.
Splits: train 50,000 / val 10,000 (from MNIST's 60k training digits) / test 10,000.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sharenas.data.base import InputSpec
from sharenas.data.builder import DatasetConfig
from sharenas.data.mnist_based import MnistBasedBuilder
from sharenas.data.registry import register_dataset
from sharenas.tasks.spec import TaskKind, TaskSpec

DIGIT = 28
POSITIONS = {2: ("left", "right"), 3: ("left", "middle", "right")}


class MultiMnistConfig(DatasetConfig):
    name: Literal["multimnist"] = "multimnist"
    digits: Literal[2, 3] = Field(2, description="Digits per canvas: 2 (left, right) or 3.")
    canvas: int = Field(36, ge=32, le=64, description="Canvas side in pixels.")
    seed: int = Field(0, ge=0, description="Seed of the generator (placements, partners).")


def horizontal_bands(free: int, digits: int) -> list[tuple[int, int]]:
    """Inclusive offset ranges, left to right, that cut ``[0, free]`` into ``digits`` bands."""
    width = free + 1
    return [(i * width // digits, (i + 1) * width // digits - 1) for i in range(digits)]


def compose(
    images: np.ndarray, labels: np.ndarray, digits: int, canvas: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Canvases (N, 1, canvas, canvas) uint8 and one label array per position."""
    n = len(images)
    free = canvas - DIGIT
    out = np.zeros((n, canvas, canvas), dtype=np.uint8)
    result: dict[str, np.ndarray] = {}
    for slot, ((lo, hi), position) in enumerate(
        zip(horizontal_bands(free, digits), POSITIONS[digits], strict=True)
    ):
        index = np.arange(n) if slot == 0 else rng.integers(0, n, size=n)
        dx = rng.integers(lo, hi + 1, size=n)
        dy = rng.integers(0, free + 1, size=n)
        for ox in range(lo, hi + 1):
            for oy in range(free + 1):
                rows = np.nonzero((dx == ox) & (dy == oy))[0]
                if rows.size:
                    window = out[rows, oy : oy + DIGIT, ox : ox + DIGIT]
                    out[rows, oy : oy + DIGIT, ox : ox + DIGIT] = np.maximum(
                        window, images[index[rows]]
                    )
        result[position] = labels[index].astype(np.int64)
    result["x"] = out[:, None]
    return result


@register_dataset
class MultiMnist(MnistBasedBuilder):
    name = "multimnist"
    description = "MNIST digits overlaid on a 36×36 canvas; one classification task per digit"
    config_class = MultiMnistConfig
    generator_version = 1
    config: MultiMnistConfig

    def tasks(self) -> list[TaskSpec]:
        return [
            TaskSpec(name=p, kind=TaskKind.CLASSIFICATION, num_classes=10)
            for p in POSITIONS[self.config.digits]
        ]

    def input_spec(self) -> InputSpec:
        side = self.config.canvas
        return InputSpec(kind="image", channels=1, height=side, width=side)

    def split_sizes(self) -> dict[str, int]:
        return {"train": 50_000, "val": 10_000, "test": 10_000}

    def generator_params(self) -> dict[str, object]:
        c = self.config
        return {"digits": c.digits, "canvas": c.canvas, "seed": c.seed}

    def generate(
        self, images: np.ndarray, labels: np.ndarray, split: str, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        return compose(images, labels, self.config.digits, self.config.canvas, rng)
