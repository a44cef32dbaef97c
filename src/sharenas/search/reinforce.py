"""REINFORCE over routing choices (Williams, 1992), as the MTNAS search (Chen, Gu & Fu, 2020).

Each weight step trains the supernet along a route g ~ π sampled for that batch. Every
``arch_every`` weight steps a route g ~ π is scored on a validation batch with the shared weights:
R(g) = mean over tasks of the signed primary metric (higher is better; lower-is-better metrics
negated) − ``flops_penalty`` · cost(g), cost in units of one hard-sharing chain. The policy then
descends −(R − b) ∇ log π(g) − β ∇ H(π), with the moving-average baseline
b ← decay · b + (1 − decay) · R and the entropy bonus β.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.engine.evaluate import to_device
from sharenas.search.route_search import RouteSearch
from sharenas.spaces.routing import RoutingGenotype


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
    samples: int = Field(1, ge=1, description="Routes scored per policy step.")
    warmup_epochs: int = Field(0, ge=0, description="Epochs of weight steps before policy steps.")


class ReinforceSearch(RouteSearch):
    """REINFORCE with a moving-average baseline and an entropy bonus."""

    config: ReinforceConfig

    def prepare_weight_step(self, step: int, generator: torch.Generator) -> None:
        self.supernet.relaxation = None
        self.supernet.genotype = self.genotype(self.policy.sample(generator))

    @torch.no_grad()
    def reward(self, genotype: RoutingGenotype, rows: torch.Tensor) -> float:
        """Signed mean primary metric of ``genotype`` on validation ``rows``, minus the cost."""
        was_training = self.supernet.training
        self.supernet.eval()
        self.supernet.genotype = genotype
        x, y = self.data.val.batch(rows)
        x, y = to_device(x, self.device), to_device(y, self.device)
        predictions = self.supernet(x)
        self.supernet.train(was_training)
        terms = []
        for h in self.handlers:
            metric = h.metric().to(self.device)
            metric.update(predictions[h.name].float(), y[h.name])
            value = float(metric.compute()[h.primary])
            terms.append(value if h.higher_is_better else -value)
        cost = self.space.relative_cost(genotype, self.layer_flops)
        return sum(terms) / len(terms) - self.config.flops_penalty * cost

    def architecture_step(self, step: int, generator: torch.Generator) -> dict[str, float]:
        rows = self.val_rows(generator)
        loss = torch.zeros((), device=self.device)
        rewards = []
        for _ in range(self.config.samples):
            indices = self.policy.sample(generator)
            reward = self.reward(self.genotype(indices), rows)
            rewards.append(reward)
            if self.baseline is None:
                self.baseline = reward
            advantage = reward - self.baseline
            loss = loss - advantage * self.policy.log_prob(indices) / self.config.samples
        mean_reward = sum(rewards) / len(rewards)
        decay = self.config.baseline_decay
        self.baseline = decay * self.baseline + (1 - decay) * mean_reward  # type: ignore[operator]
        entropy = self.policy.entropy()
        loss = loss - self.config.entropy_bonus * entropy
        self.arch_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.arch_opt.step()
        return {"reward": mean_reward, "baseline": float(self.baseline)}
