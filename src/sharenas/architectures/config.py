"""The model section of a config: the architecture, its backbone and towers, and the settings of
the hand-designed architectures (MMoE's experts, PLE's levels, cross-stitch's initial weight)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sharenas.backbones.config import BackboneConfig, MlpConfig, Width
from sharenas.spaces.registry import genotype_problem
from sharenas.tasks.heads import Tower


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    arch: str = Field("hard-sharing", description="Architecture name (or an arch.json via --arch).")
    backbone: BackboneConfig = Field(default_factory=MlpConfig)
    task_backbones: dict[str, BackboneConfig] = Field(
        default_factory=dict,
        description="Fusion space: a task's own backbone, when it differs from model.backbone.",
    )
    tower: list[Width] = Field(
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
    experts: int = Field(4, ge=1, le=1024, description="MMoE: number of experts.")
    expert_backbone: BackboneConfig | None = Field(
        None,
        description="MMoE and PLE: each expert's network, when narrower than model.backbone "
        "(torch-rechub's census recipe: a 117-wide shared bottom, 16-wide experts).",
    )
    task_experts: int = Field(1, ge=1, le=1024, description="PLE: experts per task and level.")
    shared_experts: int = Field(2, ge=1, le=1024, description="PLE: shared experts per level.")
    groups: list[list[str]] | None = Field(
        None,
        description="task-groups: the task groups, each trained on its own network from the "
        "input (e.g. [[a, b], [c]]).",
    )
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
