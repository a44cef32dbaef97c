"""mnist-scenes: small synthetic scenes with dense labels (segmentation, depth, surface normals).

Each scene (default 64×64) shows 2–4 MNIST digits, each painted on a tilted plane at a random
depth, in front of a tilted background plane; a digit hides whatever lies behind it (z-buffer).
A digit is placed by a random similarity transform (scale, rotation, centre); its plane is
``z = z0 + gx·(u − cx) + gy·(v − cy)`` in normalised image coordinates ``u, v ∈ [−1, 1]``, so its
surface normal is the unit vector ``(−gx, −gy, 1)/‖·‖`` (x right, y down, z towards the viewer).
The image is the stroke intensity shaded by a fixed light (Lambertian) and dimmed with depth.

Targets: ``segmentation`` (11 classes: 0 background, 1 + digit class), ``depth`` (positive
everywhere), ``normal`` (unit vectors). Generated from each split's own MNIST digits,
deterministic in ``seed``; sizes are configurable (default train 8,000 / val 1,000 / test 1,000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from sharenas.data.base import InputSpec
from sharenas.data.builder import DatasetConfig
from sharenas.data.mnist_based import MnistBasedBuilder
from sharenas.data.registry import register_dataset
from sharenas.tasks.spec import TaskKind, TaskSpec

LIGHT = np.array([0.3, -0.5, 1.0]) / np.linalg.norm([0.3, -0.5, 1.0])
STROKE_THRESHOLD = 0.35
BACKGROUND_DEPTH = 12.0
CHUNK = 500


class MnistScenesConfig(DatasetConfig):
    name: Literal["mnist-scenes"] = "mnist-scenes"
    size: int = Field(64, ge=32, le=128, description="Scene side in pixels.")
    min_digits: int = Field(2, ge=1, le=6)
    max_digits: int = Field(4, ge=1, le=6)
    train_size: int = Field(8000, ge=1)
    val_size: int = Field(1000, ge=1)
    test_size: int = Field(1000, ge=1)
    seed: int = Field(0, ge=0, description="Seed of the scene generator.")

    @model_validator(mode="after")
    def _digits_range(self) -> MnistScenesConfig:
        if self.min_digits > self.max_digits:
            raise ValueError(
                f"min_digits ({self.min_digits}) must not exceed max_digits ({self.max_digits})"
            )
        return self


@dataclass
class Layout:
    """Where each of ``k`` digit slots of ``n`` scenes goes (arrays with leading dims (n, k))."""

    active: np.ndarray  # bool: the slot holds a digit
    pick: np.ndarray  # index into the digit pool
    half: np.ndarray  # half-width of the digit's box, in normalised units
    angle: np.ndarray  # in-plane rotation (radians)
    centre: np.ndarray  # (n, k, 2) box centre (u, v)
    slope: np.ndarray  # (n, k, 2) depth gradient (gx, gy) of the digit's plane
    z0: np.ndarray  # depth at the centre
    bg_slope: np.ndarray  # (n, 2) depth gradient of the background plane


def sample_layout(
    n: int, pool: int, min_digits: int, max_digits: int, rng: np.random.Generator
) -> Layout:
    k = max_digits
    count = rng.integers(min_digits, max_digits + 1, size=n)
    return Layout(
        active=np.arange(k)[None, :] < count[:, None],
        pick=rng.integers(0, pool, size=(n, k)),
        half=rng.uniform(0.35, 0.6, size=(n, k)),
        angle=rng.uniform(-math.pi / 6, math.pi / 6, size=(n, k)),
        centre=rng.uniform(-0.6, 0.6, size=(n, k, 2)),
        slope=rng.uniform(-1.0, 1.0, size=(n, k, 2)),
        z0=rng.uniform(2.0, 6.0, size=(n, k)),
        bg_slope=rng.uniform(-1.0, 1.0, size=(n, 2)),
    )


def _at_front(per_slot: np.ndarray, front: np.ndarray) -> np.ndarray:
    """``per_slot`` (n, k, H, W) or (n, k) read at the front slot of every pixel (n, H, W)."""
    if per_slot.ndim == 2:
        return np.take_along_axis(per_slot, front.reshape(len(front), -1), 1).reshape(front.shape)
    return np.take_along_axis(per_slot, front[:, None], 1)[:, 0]


def rasterize(
    images: np.ndarray, labels: np.ndarray, layout: Layout, size: int
) -> dict[str, np.ndarray]:
    """Render scenes: z-buffered digit planes in front of a background plane."""
    n, k = layout.pick.shape
    # Output pixel p -> digit coordinate q = R(-angle) (p - c) / half  (affine_grid convention).
    cos, sin = np.cos(layout.angle), np.sin(layout.angle)
    rot = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)
    rot = rot / layout.half[..., None, None]
    shift = -np.einsum("nkij,nkj->nki", rot, layout.centre)
    theta = torch.from_numpy(np.concatenate([rot, shift[..., None]], -1).reshape(n * k, 2, 3))
    grid = F.affine_grid(theta.float(), [n * k, 1, size, size], align_corners=False)
    digits = torch.from_numpy(images[layout.pick.reshape(-1)]).float().div_(255.0)[:, None]
    ink = F.grid_sample(digits, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ink_np = ink.numpy().reshape(n, k, size, size)

    coords = (np.arange(size) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    u, v = coords[None, None, None, :], coords[None, None, :, None]
    cu, cv = layout.centre[..., 0, None, None], layout.centre[..., 1, None, None]
    gx, gy = layout.slope[..., 0], layout.slope[..., 1]
    plane = (
        layout.z0[..., None, None] + gx[..., None, None] * (u - cu) + gy[..., None, None] * (v - cv)
    )
    covered = (ink_np > STROKE_THRESHOLD) & layout.active[..., None, None]
    zbuf = np.where(covered, plane, np.inf)
    front = zbuf.argmin(axis=1)  # (n, H, W): the nearest covering slot
    hit = np.isfinite(_at_front(zbuf, front))

    bgx, bgy = layout.bg_slope[:, 0, None, None], layout.bg_slope[:, 1, None, None]
    depth = np.where(hit, _at_front(plane, front), BACKGROUND_DEPTH + bgx * u[0] + bgy * v[0])
    slope_x = np.where(hit, _at_front(gx, front), bgx)
    slope_y = np.where(hit, _at_front(gy, front), bgy)
    normal = np.stack([-slope_x, -slope_y, np.ones_like(slope_x)], 1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)

    shade = np.clip(np.einsum("nchw,c->nhw", normal, LIGHT), 0.2, 1.0)
    stroke = _at_front(ink_np, front)
    image = np.where(hit, 0.25 + 0.75 * stroke, 0.2) * shade * (1.0 - 0.04 * depth)
    return {
        "x": np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)[:, None],
        "segmentation": np.where(hit, _at_front(labels[layout.pick], front) + 1, 0).astype(
            np.uint8
        ),
        "depth": depth.astype(np.float16)[:, None],
        "normal": normal.astype(np.float16),
    }


def render_scenes(
    images: np.ndarray,
    labels: np.ndarray,
    n: int,
    size: int,
    min_digits: int,
    max_digits: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Render ``n`` random scenes from the digit pool ``images`` (M, 28, 28) uint8."""
    out = {
        "x": np.empty((n, 1, size, size), np.uint8),
        "segmentation": np.empty((n, size, size), np.uint8),
        "depth": np.empty((n, 1, size, size), np.float16),
        "normal": np.empty((n, 3, size, size), np.float16),
    }
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        layout = sample_layout(stop - start, len(images), min_digits, max_digits, rng)
        for key, value in rasterize(images, labels, layout, size).items():
            out[key][start:stop] = value
    return out


@register_dataset
class MnistScenes(MnistBasedBuilder):
    name = "mnist-scenes"
    description = "64×64 scenes of 2–4 MNIST digits on tilted planes: segmentation, depth, normals"
    config_class = MnistScenesConfig
    generator_version = 1
    config: MnistScenesConfig

    def tasks(self) -> list[TaskSpec]:
        return [
            TaskSpec(name="segmentation", kind=TaskKind.SEGMENTATION, num_classes=11),
            TaskSpec(name="depth", kind=TaskKind.DEPTH),
            TaskSpec(name="normal", kind=TaskKind.NORMAL, dims=3),
        ]

    def input_spec(self) -> InputSpec:
        return InputSpec(kind="image", channels=1, height=self.config.size, width=self.config.size)

    def split_sizes(self) -> dict[str, int]:
        c = self.config
        return {"train": c.train_size, "val": c.val_size, "test": c.test_size}

    def generator_params(self) -> dict[str, object]:
        c = self.config
        return {
            "size": c.size,
            "digits": [c.min_digits, c.max_digits],
            "sizes": self.split_sizes(),
            "seed": c.seed,
        }

    def generate(
        self, images: np.ndarray, labels: np.ndarray, split: str, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        c = self.config
        return render_scenes(
            images, labels, self.split_sizes()[split], c.size, c.min_digits, c.max_digits, rng
        )
