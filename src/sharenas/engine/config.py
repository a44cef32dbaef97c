"""The training section of a config: the budget, the optimiser and the device."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from sharenas.errors import ConfigError


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
    weighting: str = Field(
        "equal",
        description="How the task losses combine: equal, fixed, uncertainty, dwa, gradnorm, "
        "pcgrad, mgda, cagrad, nash_mtl (sharenas.weightings; plug-ins add more).",
    )
    weighting_options: dict[str, Any] = Field(
        default_factory=dict,
        validate_default=True,
        description="Options of the weighting (dwa: temperature; gradnorm: alpha; mgda: "
        "normalization, upper_bound; cagrad: c; nash_mtl: update_weights_every, max_norm, "
        "iterations).",
    )
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

    @field_validator("weighting")
    @classmethod
    def _known_weighting(cls, name: str) -> str:
        from sharenas.weightings import weighting_class

        try:
            weighting_class(name)
        except ConfigError as exc:
            raise ValueError(str(exc).rstrip(".")) from None
        return name

    @field_validator("weighting_options")
    @classmethod
    def _weighting_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The options as given, validated by the weighting's own model (an unknown key is a
        ConfigError naming ``train.weighting_options.<key>``). Defaults are filled in when the
        weighting is made, not recorded: an option added later keeps old run folders
        resumable."""
        from sharenas.weightings import check_options

        name = info.data.get("weighting")
        if name is not None:
            check_options(name, options)
        return options
