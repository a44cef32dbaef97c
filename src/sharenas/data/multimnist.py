"""MultiMNIST: two (or three) MNIST digits overlaid on one canvas, one task per digit.

Each canvas (default 36×36) holds digits shifted at random: the horizontal range
``[0, canvas - 28]`` is cut into one band per digit (left, [middle,] right), each digit's offset
is drawn inside its band and its vertical offset anywhere; pixels are combined by maximum. The
left digit of split sample ``i`` is digit ``i`` of that split's MNIST digits, the others are drawn
at random from the same split. Generation is deterministic in ``seed``.

``layout: corners`` places two digits as Sener & Koltun (NeurIPS 2018) do, the canvases of
LibMTL-style MultiMNIST recipes: the left digit in the top-left corner, the right digit shifted
6 pixels right and down, pixels combined by maximum (fixed positions, so the two tasks never
swap; the default bands can put the two digits one pixel apart).
Splits: train 50,000 / val 10,000 (from MNIST's 60k training digits) / test 10,000.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sharenas.data.base import InputSpec
from sharenas.data.builder import DatasetConfig
from sharenas.data.mnist_based import MnistBasedBuilder
from sharenas.data.registry import register_dataset
from sharenas.tasks.spec import TaskKind, TaskSpec

DIGIT = 28
CORNER_SHIFT = 6  # Sener & Koltun's offset of the right digit
POSITIONS = {2: ("left", "right"), 3: ("left", "middle", "right")}


class MultiMnistConfig(DatasetConfig):
    name: Literal["multimnist"] = "multimnist"
    digits: Literal[2, 3] = Field(2, description="Digits per canvas: 2 (left, right) or 3.")
    canvas: int = Field(36, ge=32, le=64, description="Canvas side in pixels.")
    seed: int = Field(0, ge=0, description="Seed of the generator (placements, partners).")
    layout: Literal["bands", "corners"] = Field(
        "bands",
        description="bands: random offsets in one horizontal band per digit; corners: Sener & "
        "Koltun's fixed top-left / shifted-by-6 placement (2 digits, canvas ≥ 34).",
    )

    @model_validator(mode="after")
    def _corners_fit(self) -> MultiMnistConfig:
        if self.layout == "corners" and (self.digits != 2 or self.canvas < DIGIT + CORNER_SHIFT):
            raise ValueError(
                f"layout 'corners' places 2 digits on a canvas of at least "
                f"{DIGIT + CORNER_SHIFT} pixels; got digits={self.digits}, canvas={self.canvas}"
            )
        return self


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


def compose_corners(
    images: np.ndarray, labels: np.ndarray, canvas: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Sener & Koltun's placement: left digit at (0, 0), right digit at (6, 6)."""
    n = len(images)
    partner = rng.integers(0, n, size=n)
    out = np.zeros((n, canvas, canvas), dtype=np.uint8)
    out[:, :DIGIT, :DIGIT] = images
    shifted = slice(CORNER_SHIFT, CORNER_SHIFT + DIGIT)
    out[:, shifted, shifted] = np.maximum(out[:, shifted, shifted], images[partner])
    return {
        "left": labels.astype(np.int64),
        "right": labels[partner].astype(np.int64),
        "x": out[:, None],
    }


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
        params: dict[str, object] = {"digits": c.digits, "canvas": c.canvas, "seed": c.seed}
        if c.layout != "bands":  # the default keeps its cache key
            params["layout"] = c.layout
        return params

    def generate(
        self, images: np.ndarray, labels: np.ndarray, split: str, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        if self.config.layout == "corners":
            return compose_corners(images, labels, self.config.canvas, rng)
        return compose(images, labels, self.config.digits, self.config.canvas, rng)
