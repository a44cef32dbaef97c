"""Config sections of the backbones (``model.backbone``), one per backbone, told apart by name."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_WIDTH = 2**16  # widths, channels and sizes of a layer: beyond this no model fits in memory
Width = Annotated[int, Field(ge=1, le=MAX_WIDTH)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MlpConfig(_Strict):
    name: Literal["mlp"] = "mlp"
    widths: list[Width] = Field(default_factory=lambda: [256, 128], min_length=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    max_embedding: int = Field(
        16, ge=1, le=MAX_WIDTH, description="Largest embedding of a categorical column."
    )
    norm: Literal["none", "batch", "layer"] = Field(
        "batch",
        description="Normalisation after each linear layer: batch, layer or none (batch: "
        "+0.003 income AUC on census with embedding_std 1e-4, BENCHMARKS.md).",
    )
    embedding_width: int | None = Field(
        None,
        ge=1,
        description="Width of every categorical column's embedding; null: 1.6·n^0.56 capped "
        "at max_embedding.",
    )
    embedding_std: float | None = Field(
        1e-4,
        gt=0,
        description="Embeddings start N(0, std²) (torch-rechub's 1e-4: Adam barely moves "
        "N(0, 1) embeddings in a few epochs); null: PyTorch's N(0, 1).",
    )


class CnnConfig(_Strict):
    name: Literal["cnn"] = "cnn"
    channels: list[Width] = Field(default_factory=lambda: [32, 64, 128], min_length=1)
    convs_per_stage: int = Field(2, ge=1)


class LenetConfig(_Strict):
    name: Literal["lenet"] = "lenet"
    channels: list[Width] = Field(default_factory=lambda: [10, 20], min_length=1)
    kernel: int = Field(5, ge=1, description="Side of every convolution's kernel (no padding).")
    fc: int = Field(50, ge=1, le=MAX_WIDTH, description="Width of the final fully connected stage.")


class ResnetConfig(_Strict):
    name: Literal["resnet"] = "resnet"
    channels: list[Width] = Field(default_factory=lambda: [32, 64, 128], min_length=1)
    blocks_per_stage: int = Field(2, ge=1)


class EncDecConfig(_Strict):
    name: Literal["encdec"] = "encdec"
    channels: list[Width] = Field(default_factory=lambda: [32, 64, 128], min_length=2)


class _PretrainedConfig(_Strict):
    """An ImageNet network of a vision library, cut into stages (backbones/pretrained.py)."""

    model: str = Field(description="The library's name of the network, e.g. resnet18.")
    pretrained: bool = Field(
        False, description="Start from the library's ImageNet weights (its own download)."
    )
    weights: str | None = Field(
        None,
        description="Start from the state dict in this file (.pth, .pt or .safetensors), read "
        "as tensors only; the offline alternative to pretrained.",
    )
    stages: int | None = Field(
        None, ge=1, description="Keep the first N stages (resolutions) only; null: all of them."
    )
    normalize: bool = Field(
        True, description="Normalise [0, 1] pixels with the network's mean and std."
    )

    @model_validator(mode="after")
    def _one_source(self) -> _PretrainedConfig:
        if self.pretrained and self.weights is not None:
            raise ValueError(
                "give model.backbone.pretrained: true or model.backbone.weights: PATH, not both"
            )
        return self


class TimmConfig(_PretrainedConfig):
    name: Literal["timm"] = "timm"


class TorchvisionConfig(_PretrainedConfig):
    name: Literal["torchvision"] = "torchvision"


BackboneConfig = Annotated[
    MlpConfig
    | CnnConfig
    | LenetConfig
    | ResnetConfig
    | EncDecConfig
    | TimmConfig
    | TorchvisionConfig,
    Field(discriminator="name"),
]
