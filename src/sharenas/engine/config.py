"""Config sections of the engine: the model (architecture + backbone) and the training budget."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sharenas.tasks.heads import Tower

GENOTYPE_LEAVES = {  # a genotype's structural keys, and what their innermost values are
    "edges": str,
    "layers": str,
    "towers": str,
    "tasks": str,
    "matrices": float,
    "gradients": float,
}


def _bad_leaf(value: Any, path: str, leaf: type) -> str | None:
    """Where a genotype holds a null, a non-finite number or a value of the wrong kind."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            where = f"{path}[{key!r}]" if isinstance(key, str) else f"{path}[{key}]"
            found = _bad_leaf(item, where, leaf)
            if found:
                return found
        return None
    if value is None:
        return f"{path} is null"
    if leaf is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{path} is {value!r}, not a number"
        return None if math.isfinite(value) else f"{path} is {value}"
    return None if isinstance(value, str) else f"{path} is {value!r}, not a name"


def genotype_problem(genotype: dict[str, Any]) -> str | None:
    """What is wrong with a genotype's structure (a null, NaN, infinity or a value of the wrong
    kind where a name or a number belongs), or None."""
    for key, leaf in GENOTYPE_LEAVES.items():
        found = _bad_leaf(genotype[key], key, leaf) if key in genotype else None
        if found:
            return (
                f"the architecture's {found}; an arch.json holds names and finite numbers only: "
                "restore the file sharenas wrote"
            )
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MlpConfig(_Strict):
    name: Literal["mlp"] = "mlp"
    widths: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [256, 128], min_length=1
    )
    dropout: float = Field(0.0, ge=0, lt=1)
    max_embedding: int = Field(16, ge=1, description="Largest embedding of a categorical column.")
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
    channels: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [32, 64, 128], min_length=1
    )
    convs_per_stage: int = Field(2, ge=1)


class LenetConfig(_Strict):
    name: Literal["lenet"] = "lenet"
    channels: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [10, 20], min_length=1
    )
    kernel: int = Field(5, ge=1, description="Side of every convolution's kernel (no padding).")
    fc: int = Field(50, ge=1, description="Width of the final fully connected stage.")


class ResnetConfig(_Strict):
    name: Literal["resnet"] = "resnet"
    channels: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [32, 64, 128], min_length=1
    )
    blocks_per_stage: int = Field(2, ge=1)


class EncDecConfig(_Strict):
    name: Literal["encdec"] = "encdec"
    channels: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [32, 64, 128], min_length=2
    )


BackboneConfig = Annotated[
    MlpConfig | CnnConfig | LenetConfig | ResnetConfig | EncDecConfig, Field(discriminator="name")
]


class ModelConfig(_Strict):
    arch: str = Field("hard-sharing", description="Architecture name (or an arch.json via --arch).")
    backbone: BackboneConfig = Field(default_factory=MlpConfig)
    task_backbones: dict[str, BackboneConfig] = Field(
        default_factory=dict,
        description="Fusion space: a task's own backbone, when it differs from model.backbone.",
    )
    tower: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="Hidden widths of each task's tower (vector features)."
    )
    tower_norm: Literal["none", "batch", "layer"] = Field(
        "batch", description="Normalisation after each linear layer of a tower."
    )
    head_bias: Literal["default", "prior"] = Field(
        "default",
        description="Output bias of each head at the start: PyTorch's initialisation, or the "
        "training targets' prior (mean for regression and depth, log-odds for binary, log class "
        "frequencies for classification).",
    )
    experts: int = Field(4, ge=1, description="MMoE: number of experts.")
    expert_backbone: BackboneConfig | None = Field(
        None,
        description="MMoE and PLE: each expert's network, when narrower than model.backbone "
        "(torch-rechub's census recipe: a 117-wide shared bottom, 16-wide experts).",
    )
    task_experts: int = Field(1, ge=1, description="PLE: experts per task and level.")
    shared_experts: int = Field(2, ge=1, description="PLE: shared experts per level.")
    genotype: dict[str, Any] | None = Field(
        None, description="A searched architecture (a fusion search's arch.json), for arch fusion."
    )
    own_weight: float = Field(
        0.9, ge=0, le=1, description="Cross-stitch / NDDR: initial weight of a task's own features."
    )

    def for_experts(self) -> ModelConfig:
        """This config with ``expert_backbone`` (if set) as the backbone: what MMoE and PLE
        build their experts from."""
        if self.expert_backbone is None:
            return self
        return self.model_copy(update={"backbone": self.expert_backbone})

    def tower_spec(self) -> Tower:
        """Each task's tower as the heads build it."""
        return Tower(tuple(self.tower), self.tower_norm)

    @field_validator("genotype")
    @classmethod
    def _finite_genotype(cls, genotype: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = genotype_problem(genotype or {})
        if problem:
            raise ValueError(problem)
        return genotype


class TrainConfig(_Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1)
    eval_batch_size: int = Field(1024, ge=1)
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["constant", "cosine", "poly"] = "constant"
    poly_power: float = Field(0.9, gt=0)
    weighting: Literal["equal", "fixed", "uncertainty"] = "equal"
    task_weights: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="Per-task loss weights for weighting: fixed."
    )
    early_stopping: int | None = Field(
        None, ge=1, description="Stop after this many epochs without validation improvement."
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = Field(True, description="Mixed precision (CUDA only).")
    max_batches: int | None = Field(None, ge=1, description="Cap on batches per epoch.")
    threads: int | None = Field(None, ge=1, description="CPU threads (torch.set_num_threads).")
    tensorboard: bool = False
    domain_norms: bool = Field(
        False,
        description="Multi-domain sets: every batch norm keeps per-domain statistics, scale and "
        "shift (domain-specific batch norms, as Visual Decathlon models); ignored otherwise.",
    )
    sync_batchnorm: bool = Field(
        True,
        description="Under torchrun: batch-norm statistics over every process's rows, as one "
        "process would compute them (false: each process its own).",
    )
