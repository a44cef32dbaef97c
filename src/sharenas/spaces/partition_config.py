"""Settings of the partition search: how a partition is evaluated (``search.evaluation``) and the
study that searches them (``search.study``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PartitionEvalConfig(BaseModel):
    """How a partition is scored (``search.evaluation``)."""

    model_config = ConfigDict(extra="forbid")

    evaluator: Literal["short", "full", "distill"] = Field(
        "short",
        description="short (default): train the partition for a fraction of the budget; full: "
        "the whole budget; distill: the paper's proxy (measured: it ranks partitions against full "
        "training on planted groups, BENCHMARKS.md).",
    )
    epochs: int | None = Field(
        None, ge=1, description="full and short: epochs (default: train.epochs; short: a fraction)."
    )
    short_fraction: float = Field(
        1 / 3,
        gt=0,
        le=1,
        description="short: the fraction of train.epochs each partition trains (rounded up).",
    )
    reference: str | None = Field(
        None,
        description="short and full: a finished run folder (the same data, epochs and seed; e.g. "
        "single-task or hard-sharing) whose validation metrics every partition is scored "
        "against and the chosen one's Δ_MTL measured against, instead of single-task teachers "
        "trained for the search (`auto` passes its own); distill always trains the teachers.",
    )
    distill_steps: int = Field(200, ge=1, description="distill: student training steps.")

    @model_validator(mode="after")
    def _reference_needs_training(self) -> PartitionEvalConfig:
        if self.reference is not None and self.evaluator == "distill":
            raise ValueError(
                "search.evaluation.reference scores partitions trained by the short or full "
                "evaluator; distill compares with single-task teachers it trains itself: set "
                "evaluator: short (or full), or leave the reference out"
            )
        return self

    distill_lr: float = Field(3e-3, gt=0, description="distill: Adam learning rate.")
    distill_batch: int = Field(128, ge=1, description="distill: rows per step and task.")
    distill_val_rows: int | None = Field(
        2000, ge=1, description="distill: validation rows per task that score the student."
    )
    distill_adapters: bool = Field(
        False,
        description="distill: a linear map per task (identity at the start, trained with the "
        "student) from the student's features to its teacher's, so that a task given k of C "
        "channels is scored on what k channels can carry, not on reproducing all C (measured: "
        "no gain on planted groups, BENCHMARKS.md; off by default).",
    )


class StudyConfig(BaseModel):
    """Settings of the partition search (``search.study``)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _moved_budget(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "flops_budget" in raw:
            if raw["flops_budget"] is None:  # as every config.yaml written before records it
                return {k: v for k, v in raw.items() if k != "flops_budget"}
            raise ValueError(
                "search.study.flops_budget (a fraction of share-all's FLOPs) was replaced by "
                "search.max_flops, the one budget of every space, in FLOPs per example"
            )
        return raw

    trials: int = Field(
        20, ge=1, description="Partitions to evaluate, share-all and independent included."
    )
    share_all: bool = Field(
        True,
        description="Evaluate the share-all partition first (with independent; `auto` leaves it "
        "out: its hard-sharing training measured that sharing).",
    )
    groupings: list[list[list[str]]] = Field(
        default_factory=list,
        description="Task groupings evaluated next, each as the partition in which a group's "
        "tasks share a private part of the channels in proportion to its size (e.g. the "
        "branching search's groups; `auto` passes the affinity tree's).",
    )

    @model_validator(mode="after")
    def _groupings_are_partitions(self) -> StudyConfig:
        for groups in self.groupings:
            named = [t for g in groups for t in g]
            if not all(groups) or len(named) != len(set(named)):
                raise ValueError(
                    f"search.study.groupings: {groups} must put each task in exactly one "
                    "non-empty group (e.g. [[a, b], [c]])"
                )
        return self

    storage: str | None = Field(
        None,
        description="Optuna storage: sqlite:///FILE, journal:///FILE (workers on one host) or "
        "an RDB URL such as postgresql://user@host/db (several hosts). Default: study.db "
        "(SQLite) in the search folder for one worker, study.journal for several.",
    )
    name: str | None = Field(None, description="Study name (default: from dataset and space).")
    workers: int = Field(1, ge=1, description="Worker processes on this machine.")
    population: int = Field(8, ge=2, description="nsga2: population size.")
    flops_penalty: float = Field(
        0.0, ge=0, description="es: score penalty per share-all FLOPs (a soft budget)."
    )
    es_directions: int = Field(3, ge=1, description="es: antithetic pairs per generation.")
    es_keep: int = Field(2, ge=1, description="es: best directions kept per update.")
    es_sigma: float = Field(0.15, gt=0, description="es: perturbation scale.")
    es_step: float = Field(0.1, gt=0, description="es: step size α.")
    heartbeat: int = Field(10, ge=1, description="Seconds between a worker's heartbeats.")
    seed: int | None = Field(None, description="Sampler seed (default: the config's seed).")
