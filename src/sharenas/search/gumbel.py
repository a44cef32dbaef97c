"""Gumbel-softmax relaxation of the routing choices: the differentiable alternative to REINFORCE
(Jang et al., ICLR 2017; as in SNAS / GDAS). Every choice is replaced by the mixture of its
options weighted by a relaxed one-hot sample at temperature τ, annealed geometrically from
``initial_temperature`` to ``final_temperature``; weight steps (training split, samples detached)
alternate with policy steps that descend the validation loss through the samples.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.engine.step import StepInfo
from sharenas.search.registry import register_strategy
from sharenas.search.route_step import RouteStep
from sharenas.search.strategy import OneShotStrategy


class GumbelConfig(BaseModel):
    """Settings of ``search.strategy: gumbel`` (``search.gumbel``)."""

    model_config = ConfigDict(extra="forbid")

    policy_lr: float = Field(3e-3, gt=0, description="Adam learning rate of the policy logits.")
    initial_temperature: float = Field(5.0, gt=0)
    final_temperature: float = Field(0.5, gt=0)
    reward_batch: int = Field(256, ge=1, description="Validation rows per policy step.")
    arch_every: int = Field(1, ge=1, description="A policy step every this many weight steps.")
    warmup_epochs: int = Field(0, ge=0, description="Epochs of weight steps before policy steps.")


class GumbelStep(RouteStep):
    """First-order alternating search of the relaxed routing choices."""

    settings: GumbelConfig

    def temperature(self, step: int) -> float:
        start, end = self.settings.initial_temperature, self.settings.final_temperature
        total = self.trainer.total_steps
        progress = min(step, total) / max(1, total)
        return start * (end / start) ** progress

    def _relax(self, step: int, generator: torch.Generator, detach: bool) -> None:
        weights = self.policy.gumbel_softmax(self.temperature(step), generator)
        if detach:
            weights = {k: w.detach() for k, w in weights.items()}
        self.supernet.use_relaxation(self.space.relaxation(weights))

    def prepare_weight_step(self, step: int, generator: torch.Generator) -> None:
        self._relax(step, generator, detach=True)

    def architecture_step(self, step: int, generator: torch.Generator) -> dict[str, float]:
        self._relax(step, generator, detach=False)
        info = StepInfo(self.epoch, step, step, self.trainer.total_steps)
        loss = self.batch_loss("val", self.val_rows(generator), info)
        self.trainer.update(loss, self.arch_opt)
        self.weight_opt.zero_grad(set_to_none=True)  # the validation split never trains weights
        return {"val_loss": float(loss.detach()), "temperature": self.temperature(step)}


@register_strategy
class GumbelStrategy(OneShotStrategy):
    """Gumbel-softmax relaxation of the routes (Jang et al., ICLR 2017)."""

    name = "gumbel"
    summary = "Gumbel-softmax relaxation of the routes, the chosen route retrained"
    settings_key, settings_class = "gumbel", GumbelConfig
    step_class = GumbelStep
