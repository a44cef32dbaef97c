"""What the timm and torchvision backbones share: an ImageNet network cut into stages behind a
stem that adapts sharenas' images (pixels in [0, 1], one or three channels) to what the network
was trained on, and weights read from a file as tensors only.

- The stem repeats a grey channel three times (the same function as summing the first
  convolution's weights over its input channels, as timm's ``in_chans=1`` does, while the
  network keeps the checkpoint's tensors unchanged), then normalises with the network's
  mean and standard deviation (ImageNet's for torchvision; ``pretrained_cfg`` for timm).
- Each stage's :class:`StageSpec` carries its real channels, its reduction and the size of its
  map, measured by one forward of a zero image of the input's size: on a small image a network
  with five down-samplings ends on a 1×1 map, and the size is not ``input // reduction``.
- A weights file is read with ``torch.load(weights_only=True)`` (``.pth``, ``.pt``) or
  ``safetensors.torch.load_file`` (``.safetensors``): nothing in it is run.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from sharenas.backbones.base import Backbone, StageSpec
from sharenas.data.base import InputSpec
from sharenas.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")
PROBE = 64  # side of the image on which stage reductions are measured (five halvings: 2×2)
NESTED_KEYS = ("state_dict", "model")  # where training scripts often put the state dict
_SKIP_WEIGHTS: contextvars.ContextVar[bool] = contextvars.ContextVar("skip", default=False)


def require(module: str, key: str) -> ModuleType:
    """``module`` (timm, torchvision, safetensors.torch) or a ConfigError saying how to install
    it; a broken install (say a CUDA torchvision beside a CPU torch) is reported with its cause."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or RuntimeError from a mismatched torchvision
        reason = "it is not installed" if isinstance(exc, ImportError) else f"it fails: {exc}"
        raise ConfigError(
            f"{key} needs {module.split('.')[0]} and {reason}. Install the vision extra: "
            "pip install 'sharenas[vision]' (timm, torchvision and safetensors; torchvision must "
            "be the build of the installed torch, e.g. the CPU build beside a CPU torch)."
        ) from None


@contextlib.contextmanager
def weights_skipped() -> Iterator[None]:
    """Pretrained backbones built inside start from random weights: a trained model rebuilt from
    its run folder gets its weights from ``best.pt``, so nothing is downloaded or read twice."""
    token = _SKIP_WEIGHTS.set(True)
    try:
        yield
    finally:
        _SKIP_WEIGHTS.reset(token)


def skipping_weights() -> bool:
    return _SKIP_WEIGHTS.get()


def load_weights_file(network: nn.Module, weights: str | None, skip: bool) -> None:
    """``network``'s state from the file ``weights`` (none given, or ``skip``: left as it is)."""
    if weights is not None and not skip:
        load_state(network, read_weights(weights), str(Path(weights).expanduser()))


def weights_source(pretrained: bool, weights: str | None) -> str:
    """Where the weights came from, for ``describe``."""
    return " (pretrained)" if pretrained else f" ({weights})" if weights else ""


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, read as tensors only (nested under ``state_dict`` or
    ``model`` is unwrapped); a ConfigError naming the file for anything else."""
    path = Path(path).expanduser()
    stat = path.stat() if path.is_file() else None
    if stat is None:
        raise ConfigError(f"model.backbone.weights: {path} is not a file.")
    return dict(_read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=1)  # a network built twice in a row (search, then its final training)
def _read_cached(path: str, mtime_ns: int, size: int) -> dict[str, torch.Tensor]:
    """One read per file version: a space builds several copies of its backbone."""
    suffix = Path(path).suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise ConfigError(
            f"model.backbone.weights: {path} is neither {', '.join(WEIGHT_SUFFIXES[:-1])} nor "
            ".safetensors."
        )
    try:
        if suffix == ".safetensors":
            loaded = require("safetensors.torch", "model.backbone.weights").load_file(path)
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except ConfigError:
        raise
    except Exception as exc:  # a pickle that would run code, a truncated file, …
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ConfigError(
            f"model.backbone.weights: {path} cannot be read as tensors only ({first}); give a "
            "state dict saved with torch.save or safetensors."
        ) from None
    return _state_dict(loaded, path)


def _state_dict(loaded: object, path: str) -> dict[str, torch.Tensor]:
    for key in NESTED_KEYS:
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ConfigError(f"model.backbone.weights: {path} holds no state dict (names → tensors).")
    return {k.removeprefix("module."): v for k, v in loaded.items()}  # DataParallel's prefix


def load_state(network: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``state`` into ``network`` (every key, every shape); a ConfigError naming ``source`` and
    the keys that do not match."""
    own = network.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} ≠ {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{label} ({len(keys)}): {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''}"
            for label, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("other shapes", shapes),
            )
            if keys
        ]
        raise ConfigError(
            f"model.backbone.weights: {source} does not fit the network: {'; '.join(parts)}. "
            "Check model.backbone.model names the network the file was saved from."
        )
    network.load_state_dict(state, strict=True)


class InputAdapter(nn.Module):
    """Grey → three channels (repeated), then ``(x − mean) / std`` per channel."""

    def __init__(self, channels: int, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.repeat = 3 if channels == 1 else 1
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.repeat > 1:
            x = x.expand(-1, self.repeat, -1, -1)
        return (x - self.mean) / self.std


def check_image_input(input_spec: InputSpec, name: str) -> None:
    """A ValueError (made a ConfigError naming ``model.backbone``) for tables and for images
    that are neither grey nor RGB."""
    if input_spec.kind != "image":
        raise ValueError(f"the {name} backbone reads images; use mlp for tables")
    if input_spec.channels not in (1, 3):
        raise ValueError(
            f"the {name} backbone's networks read RGB (or grey) images; the input has "
            f"{input_spec.channels} channels"
        )


class PretrainedBackbone(Backbone):
    """An ImageNet network's stages behind an :class:`InputAdapter` stem."""

    def __init__(
        self,
        input_spec: InputSpec,
        stages: Sequence[nn.Module],
        mean: Sequence[float],
        std: Sequence[float],
        label: str,
        reductions: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_spec)
        assert input_spec.channels is not None
        self.label = label
        self.stem = InputAdapter(input_spec.channels, mean, std)
        self.stages = nn.ModuleList(stages)
        sizes = self._sizes(self.input_size or (1, 1))
        if reductions is None:  # measured where no stage is down to 1×1 yet
            reductions = [PROBE // size[0] for _, size in self._sizes((PROBE, PROBE))]
        self.stage_specs = [
            StageSpec(channels, int(r), size)
            for (channels, size), r in zip(sizes, reductions, strict=True)
        ]

    @torch.no_grad()
    def _sizes(self, size: tuple[int, int]) -> list[tuple[int, tuple[int, int]]]:
        """(channels, map size) of every stage on an image of ``size``, from one forward of
        zeros in eval mode (the batch norms' statistics are left as they are)."""
        was_training = self.training
        self.eval()
        try:
            x = torch.zeros(1, self.input_spec.channels or 1, *size)
            outputs = self.stage_outputs(x)
        except RuntimeError as exc:  # a pooling left with no pixel
            raise ValueError(
                f"a {size[0]}×{size[1]} image is too small for the {len(self.stages)} stages of "
                f"{self.label} ({str(exc).splitlines()[0][:120]}); keep fewer with "
                "model.backbone.stages"
            ) from None
        finally:
            self.train(was_training)
        return [(int(o.shape[1]), (int(o.shape[-2]), int(o.shape[-1]))) for o in outputs]

    def describe(self) -> str:
        return self.label
