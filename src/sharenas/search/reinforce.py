"""REINFORCE over routing choices (Williams, 1992), as the MTNAS search (Chen, Gu & Fu, 2020).

Each weight step trains the supernet along a route g ~ π sampled for that batch. Every
``arch_every`` weight steps a route g ~ π is scored on a validation batch with the shared weights:
R(g) = mean over tasks of the signed relative change of the task's primary metric against its
reference r_t, s_t · (m_t(g) − r_t) / |r_t| (higher is better: s_t = −1 for lower-is-better
metrics), − ``flops_penalty`` · cost(g), cost in units of one hard-sharing chain (under a FLOPs
budget, ``search.max_flops``, also − 10 per chain beyond it: :mod:`sharenas.search.budget`). The
reference r_t is the moving average of the task's metric over the routes scored so far (the same
decay as the baseline), so every task counts on one scale, as in Δ_MTL (Maninis et al., 2019):
MTNAS averages raw metrics, which lets a regression error in its own unit (an MSE of 540 beside
AUCs below 1) decide the reward alone. The policy then
descends −(R − b) ∇ log π(g) − β ∇ H(π), with the moving-average baseline
b ← decay · b + (1 − decay) · R and the entropy bonus β. With ``samples`` = S > 1 routes scored on
the same rows per step, ``baseline: leave-one-out`` uses the mean reward of the other S − 1
(Kool et al., 2019), which removes the batch-to-batch noise of the reward.

Two settings counter early commitment (weight sharing's rich-get-richer: the routes the young
policy favours get trained more, so score better, so get favoured more): ``weight_routes:
uniform`` trains every route equally often (Guo et al., ECCV 2020, single-path one-shot) and
``entropy_start`` anneals β from a large value.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sharenas.engine.evaluate import relative_score, to_device
from sharenas.engine.task_subset import only_tasks
from sharenas.search.budget import over_budget
from sharenas.search.registry import register_strategy
from sharenas.search.route_step import RouteStep
from sharenas.search.strategy import OneShotStrategy
from sharenas.spaces.routing import RoutingGenotype
from sharenas.tasks.labels import labelled_rows


class ReinforceConfig(BaseModel):
    """Settings of ``search.strategy: reinforce`` (``search.reinforce``)."""

    model_config = ConfigDict(extra="forbid")

    policy_lr: float = Field(0.05, gt=0, description="Adam learning rate of the policy logits.")
    baseline_decay: float = Field(0.9, ge=0, lt=1, description="Moving-average baseline decay.")
    entropy_bonus: float = Field(1e-3, ge=0, description="β: weight of the policy entropy bonus.")
    flops_penalty: float = Field(
        0.0, ge=0, description="Reward penalty per hard-sharing chain of FLOPs the route uses."
    )
    reward_batch: int = Field(1024, ge=1, description="Validation rows that score one route.")
    arch_every: int = Field(1, ge=1, description="A policy step every this many weight steps.")
    samples: int = Field(
        1, ge=1, description="Routes scored per policy step, all on the same validation rows."
    )
    baseline: Literal["moving-average", "leave-one-out"] = Field(
        "moving-average",
        description="b for each sample: the moving average of past rewards, or (samples > 1) "
        "the mean reward of the step's other samples on the same rows, which cancels how hard "
        "the batch is.",
    )
    warmup_epochs: int = Field(
        0,
        ge=0,
        description="Epochs of weight steps (routes drawn from the still uniform "
        "policy) before the first policy step.",
    )
    weight_routes: Literal["policy", "uniform"] = Field(
        "policy",
        description="Route of each weight step: drawn from the policy (MTNAS), or uniformly "
        "from the space all search long (fair weight sharing, as single-path one-shot NAS: no "
        "sub-network is trained more because the policy already prefers it).",
    )
    entropy_start: float | None = Field(
        None,
        ge=0,
        description="β at the first policy step, annealed linearly to entropy_bonus at the last "
        "(keeps the policy open while the weights are young); None: β constant.",
    )

    @model_validator(mode="after")
    def _leave_one_out_needs_samples(self) -> ReinforceConfig:
        if self.baseline == "leave-one-out" and self.samples < 2:
            raise ValueError(
                "baseline 'leave-one-out' needs samples ≥ 2 (each sample is compared with the "
                "others); raise samples or use baseline 'moving-average'"
            )
        return self


class ReinforceStep(RouteStep):
    """REINFORCE with a moving-average baseline and an entropy bonus."""

    settings: ReinforceConfig

    def attach(self, trainer: Any) -> None:
        super().attach(trainer)
        # the moving-average reward per scored task ("": every task at once); a multi-domain
        # set scores one task per policy step
        self.baseline: dict[str, float] = {}
        self.reference: dict[str, float] = {}  # r_t: each task's moving-average primary metric

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "baseline": self.baseline, "reference": self.reference}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The shared state (:meth:`RouteStep.load_state_dict`) and the baselines."""
        super().load_state_dict(state)
        baseline = state["baseline"]  # a float in checkpoints written before per-task baselines
        self.baseline = (
            baseline
            if isinstance(baseline, dict)
            else ({} if baseline is None else {"": float(baseline)})
        )
        self.reference = dict(state.get("reference") or {})  # absent before relative rewards

    def prepare_weight_step(self, step: int, generator: torch.Generator) -> None:
        """The weight step's route: drawn from the policy (MTNAS) or uniformly."""
        if self.settings.weight_routes == "uniform":
            self.supernet.use_route(self.space.sample(generator))
        else:
            self.supernet.use_route(self.genotype(self.policy.sample(generator)))

    def entropy_weight(self, step: int) -> float:
        """β at ``step``: constant, or annealed linearly from ``entropy_start``."""
        end, start = self.settings.entropy_bonus, self.settings.entropy_start
        if start is None:
            return end
        progress = min(step, self.trainer.total_steps) / max(1, self.trainer.total_steps)
        return start + (end - start) * progress

    @torch.no_grad()
    def rewards(self, genotypes: list[RoutingGenotype], rows: Any) -> list[float] | None:
        """Per genotype, the signed mean primary metric on validation ``rows`` minus the cost;
        the routes are evaluated together (:meth:`RoutingNetwork.forward_routes`), with the
        network in eval mode once and each task's primary metric computed directly
        (:meth:`TaskHandler.batch_primary`); None where ``rows`` hold no label of any task."""
        t, net = self.trainer, self.supernet
        was_training = net.training
        net.eval()
        x, y = t.data.val.batch(rows)
        x, y = to_device(x, t.device), to_device(y, t.device)
        with only_tasks(net, y):  # one task's rows on a multi-domain set: its domain's norms
            all_predictions = net.forward_routes(x, genotypes)
        net.train(was_training)
        # a multi-domain batch holds its own task; with partial labels, the tasks labelled here
        rows_of = {h.name: labelled_rows(h.spec, y[h.name]) for h in t.handlers if h.name in y}
        scored = [h for h in t.handlers if h.name in rows_of and bool(rows_of[h.name].any())]
        if not scored:  # no label of any task in these rows: no evidence
            return None
        metrics = [
            {
                h.name: h.batch_primary(
                    predictions[h.name][rows_of[h.name]], y[h.name][rows_of[h.name]]
                )
                for h in scored
            }
            for predictions in all_predictions
        ]
        reference = self._update_reference(metrics)
        return [
            relative_score(values, reference, scored)
            - self.settings.flops_penalty * self.cost(genotype)
            - over_budget(self.cost(genotype), self.max_cost)
            for genotype, values in zip(genotypes, metrics, strict=True)
        ]

    def _update_reference(self, metrics: list[dict[str, float]]) -> dict[str, float]:
        """r_t before this step's routes are scored (their mean on the first step), then moved
        towards their mean: the reference of the rewards just measured."""
        reference = {}
        for task in metrics[0]:
            mean = sum(m[task] for m in metrics) / len(metrics)
            reference[task] = self.reference.get(task, mean)
            decay = self.settings.baseline_decay
            self.reference[task] = decay * reference[task] + (1 - decay) * mean
        return reference

    def architecture_step(self, step: int, generator: torch.Generator) -> dict[str, float]:
        rows = self.val_rows(generator)
        drawn = [self.policy.sample(generator) for _ in range(self.settings.samples)]
        rewards = self.rewards([self.genotype(indices) for indices in drawn], rows)
        if rewards is None:  # partial labels: these rows score nothing, so no policy step
            return {}
        mean_reward = sum(rewards) / len(rewards)
        task = rows[0] if isinstance(rows, tuple) else ""  # the task scored on a multi-domain set
        moving = self.baseline.setdefault(task, mean_reward)
        if self.settings.baseline == "leave-one-out":
            others = len(rewards) - 1
            baselines = [(sum(rewards) - r) / others for r in rewards]
        else:
            baselines = [moving] * len(rewards)
        loss = torch.zeros((), device=self.trainer.device)
        for indices, reward, base in zip(drawn, rewards, baselines, strict=True):
            loss = loss - (reward - base) * self.policy.log_prob(indices) / len(rewards)
        decay = self.settings.baseline_decay
        self.baseline[task] = decay * moving + (1 - decay) * mean_reward
        entropy = self.policy.entropy()
        loss = loss - self.entropy_weight(step) * entropy
        self.arch_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.arch_opt.step()
        return {"reward": mean_reward, "baseline": self.baseline[task]}


@register_strategy
class ReinforceStrategy(OneShotStrategy):
    """MTNAS's REINFORCE search of the routes (Chen, Gu & Fu, 2020)."""

    name = "reinforce"
    summary = "a REINFORCE policy over routes, the chosen route retrained"
    settings_key, settings_class = "reinforce", ReinforceConfig
    step_class = ReinforceStep
