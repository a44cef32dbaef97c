"""NYUv2 (Silberman et al., ECCV 2012), common preprocessed ``.npy`` layout (data not shipped).

The layout is the one used by MTAN and most multi-task papers since (288×384, 13 classes)::

    DATA_DIR/train/{image,label,depth,normal}/<i>.npy     795 samples
    DATA_DIR/val/{image,label,depth,normal}/<i>.npy       654 samples (the official test set)

``image`` (H, W, 3) in [0, 1]; ``label`` (H, W) with −1 for unlabelled pixels; ``depth`` (H, W, 1),
0 where missing; ``normal`` (H, W, 3), zero where missing. Channels-first arrays are accepted too.
Splits: ``train/`` gives train and val (its last ``val_fraction``, by index); ``val/`` gives test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from sharenas.data.base import InputSpec, MultiTaskDataset, TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig
from sharenas.data.registry import register_dataset
from sharenas.errors import DatasetError
from sharenas.tasks.spec import TaskKind, TaskSpec

KINDS = ("image", "label", "depth", "normal")
CHANNELS = {"image": 3, "label": 0, "depth": 1, "normal": 3}
CLASSES = 13
HOW_TO = (
    "set data.data_dir (or --data-dir) to the folder holding train/ and val/, each with image/, "
    "label/, depth/ and normal/ subfolders of <i>.npy files (the preprocessed NYUv2 layout)"
)


class Nyuv2Config(DatasetConfig):
    name: Literal["nyuv2"] = "nyuv2"
    val_fraction: float = Field(0.1, gt=0, lt=1, description="Share of train/ held out as val.")
    resize: tuple[int, int] | None = Field(
        None, description="(height, width) to resize to on load; labels use nearest neighbour."
    )


def _channels_first(array: np.ndarray, kind: str, path: Path) -> np.ndarray:
    want = CHANNELS[kind]
    if want == 0:
        if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
            array = array.reshape(array.shape[1:] if array.shape[0] == 1 else array.shape[:2])
        if array.ndim != 2:
            raise DatasetError(f"{path}: a label map must be (H, W), got shape {array.shape}.")
        return array
    if array.ndim == 2 and want == 1:
        return array[None]
    if array.ndim == 3 and array.shape[-1] == want:
        return np.moveaxis(array, -1, 0)
    if array.ndim == 3 and array.shape[0] == want:
        return array
    raise DatasetError(
        f"{path}: {kind} must have {want} channels (H, W, {want}), got shape {array.shape}."
    )


def _image_bytes(array: np.ndarray, path: Path) -> np.ndarray:
    """An image as 0–255 bytes: floats in [0, 1] are scaled, integers or floats in 0–255 kept;
    anything else (NaN, negative, above 255) is refused rather than clipped."""
    values = array.astype(np.float64)
    if not np.isfinite(values).all() or values.min(initial=0) < 0 or values.max(initial=0) > 255:
        raise DatasetError(
            f"{path}: image values must be floats in [0, 1] or 0–255 "
            f"(found {np.nanmin(values):.4g} to {np.nanmax(values):.4g}, or non-finite)."
        )
    scale = 255.0 if array.dtype.kind == "f" and values.max(initial=0) <= 1.0 else 1.0
    return np.rint(values * scale).astype(np.uint8)


def _labels(array: np.ndarray, path: Path) -> np.ndarray:
    """A label map: class indices 0..12, −1 (or 255, its byte form) for unlabelled pixels."""
    values = np.where(array == 255, -1, array)
    if array.dtype.kind not in "iu" and not np.array_equal(values, np.rint(values)):
        raise DatasetError(f"{path}: labels must be whole class indices.")
    if values.min(initial=0) < -1 or values.max(initial=0) >= CLASSES:
        raise DatasetError(
            f"{path}: labels run from {values.min()} to {values.max()}; NYUv2 has {CLASSES} "
            "classes (0–12) and −1 or 255 for unlabelled pixels."
        )
    return values.astype(np.int8)


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    counts = {}
    for kind in KINDS:
        sub = folder / kind
        if not sub.is_dir():
            raise DatasetError(f"nyuv2: {sub} is missing; {HOW_TO}.")
        counts[kind] = len(list(sub.glob("*.npy")))
    if len(set(counts.values())) != 1 or counts["image"] == 0:
        raise DatasetError(
            f"nyuv2: {folder} holds unequal or no sample counts per kind {counts}; "
            "every sample needs an image, label, depth and normal file."
        )
    arrays: dict[str, list[np.ndarray]] = {kind: [] for kind in KINDS}
    for i in range(counts["image"]):
        for kind in KINDS:
            path = folder / kind / f"{i}.npy"
            if not path.exists():
                raise DatasetError(f"nyuv2: {path} is missing (files must be numbered 0..N-1).")
            array = _channels_first(np.load(path, allow_pickle=False), kind, path)
            if kind == "image":
                array = _image_bytes(array, path)
            elif kind == "label":
                array = _labels(array, path)
            arrays[kind].append(array)
    shapes = {a.shape[-2:] for kind in KINDS for a in arrays[kind]}
    if len(shapes) != 1:
        raise DatasetError(f"nyuv2: {folder} mixes image sizes {sorted(shapes)}.")
    return {
        "image": np.stack(arrays["image"]),
        "label": np.stack(arrays["label"]),
        "depth": np.stack(arrays["depth"]).astype(np.float16),
        "normal": np.stack(arrays["normal"]).astype(np.float16),
    }


def _resize(tensors: dict[str, torch.Tensor], size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Bilinear for the image; nearest for labels, depth and normals (no mixed invalid pixels)."""
    out = {}
    for kind, tensor in tensors.items():
        maps = tensor.float() if tensor.ndim == 4 else tensor.float()[:, None]
        if kind == "image":
            maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False).round()
        else:
            maps = F.interpolate(maps, size=size, mode="nearest")
        out[kind] = (maps if tensor.ndim == 4 else maps[:, 0]).to(tensor.dtype)
    return out


@register_dataset
class Nyuv2(DatasetBuilder):
    name = "nyuv2"
    description = "NYUv2 indoor scenes (preprocessed .npy layout): 13-class seg, depth, normals"
    license = "NYU Depth V2: for research use (see the dataset's terms); not shipped"
    source = "your copy (data.data_dir), preprocessed .npy layout"
    config_class = Nyuv2Config
    config: Nyuv2Config

    def tasks(self) -> list[TaskSpec]:
        return [
            TaskSpec(
                name="segmentation",
                kind=TaskKind.SEGMENTATION,
                num_classes=CLASSES,
                ignore_index=-1,
            ),
            TaskSpec(name="depth", kind=TaskKind.DEPTH),
            TaskSpec(name="normal", kind=TaskKind.NORMAL, dims=3),
        ]

    def is_cached(self) -> bool:
        d = self.config.data_dir
        return d is not None and (d / "train" / "image").is_dir()

    def location(self) -> Path:
        """The user's copy (data.data_dir): nyuv2 is never downloaded."""
        if self.config.data_dir is None:
            raise DatasetError(f"nyuv2 is not shipped with sharenas: {HOW_TO}.")
        return Path(self.config.data_dir)

    def _load(self) -> TaskSetData:
        root = self.location()
        raw = {"train": _read_folder(root / "train"), "test": _read_folder(root / "val")}
        n_train = len(raw["train"]["image"])
        n_val = max(1, round(n_train * self.config.val_fraction))
        if n_val >= n_train:
            raise DatasetError(
                f"nyuv2: {root / 'train'} has {n_train} samples, too few to hold "
                f"out data.val_fraction={self.config.val_fraction} as val."
            )
        parts = {
            "train": ("train", slice(0, n_train - n_val)),
            "val": ("train", slice(n_train - n_val, n_train)),
            "test": ("test", slice(None)),
        }
        tasks = self.tasks()
        splits = {}
        for split, (source, rows) in parts.items():
            tensors = {kind: torch.from_numpy(raw[source][kind][rows]) for kind in KINDS}
            if self.config.resize is not None:
                tensors = _resize(tensors, self.config.resize)
            targets = {
                "segmentation": tensors["label"],
                "depth": tensors["depth"],
                "normal": tensors["normal"],
            }
            splits[split] = MultiTaskDataset(tensors["image"], targets, tasks)
        height, width = splits["train"].inputs.shape[-2:]  # type: ignore[union-attr]
        spec = InputSpec(kind="image", channels=3, height=int(height), width=int(width))
        return TaskSetData(self.name, tasks, spec, splits)
