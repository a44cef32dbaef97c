"""The training section of a config: the budget, the optimiser and the device."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
