"""The step shared by the routing strategies (MTNAS, Chen, Gu & Fu, 2020): a weight step on the
supernet (training split) and, every ``arch_every`` steps after ``warmup_epochs``, a step of the
categorical policy over the routing choices (validation split). A strategy defines how a weight
step picks its route and how the policy learns.

Every random draw comes from a generator seeded by (seed, epoch), so a resumed search is exact
(CPU). Policy steps are replicated in every process (same rows, same draws), weight steps are
data parallel.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, cast

import torch

from sharenas.data.base import MultiDomainDataset, epoch_key
from sharenas.engine.evaluate import to_device
from sharenas.engine.step import StepInfo
from sharenas.search.base import SearchStep, delivered_words
from sharenas.search.policy import CategoricalPolicy
from sharenas.spaces.routing import RoutingGenotype, RoutingNetwork, RoutingSpace


class RouteStep(SearchStep):
    """Weight steps along the strategy's route, interleaved with policy steps."""

    space: RoutingSpace
    unused_parameters = True  # a sampled route leaves sub-networks without gradient

    @property
    def supernet(self) -> RoutingNetwork:
        """The trained routing supernet, whose mode (a route, or a relaxation of the routes)
        the strategy sets before each forward."""
        return cast(RoutingNetwork, self.trainer.model)

    def attach(self, trainer: Any) -> None:
        super().attach(trainer)
        self.choices = self.space.choices()
        self.policy = CategoricalPolicy(
            [c.key for c in self.choices], [len(c.options) for c in self.choices]
        ).to(trainer.device)
        params = [*self.supernet.parameters(), *trainer.weighting.parameters()]
        self.weight_opt = trainer.create_optimizer(params)
        self.arch_opt = torch.optim.Adam(self.policy.parameters(), lr=self.settings.policy_lr)
        example = to_device(trainer.data.val.example(2), trainer.device)
        self.layer_flops = self.space.layer_flops(self.supernet, example)
        self.max_cost = self._max_cost()
        self.generator = torch.Generator()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"weights": self.weight_opt, "architecture": self.arch_opt}

    # --- what a strategy defines ----------------------------------------------------------------
    @abstractmethod
    def prepare_weight_step(self, step: int, generator: torch.Generator) -> None:
        """Set the supernet's mode for the next weight step: a route
        (:meth:`RoutingNetwork.use_route`) or a relaxation
        (:meth:`RoutingNetwork.use_relaxation`)."""

    @abstractmethod
    def architecture_step(self, step: int, generator: torch.Generator) -> dict[str, float]:
        """One update of the policy; returns the values to log (e.g. reward)."""

    # --- the step -------------------------------------------------------------------------------
    def genotype(self, indices: list[int]) -> RoutingGenotype:
        return self.space.genotype_from(indices)

    def derive(self) -> RoutingGenotype:
        return self.genotype(self.policy.most_probable())

    ALTERNATIVES = 256  # routes drawn from the policy when the most probable is over budget

    def alternatives(self) -> list[RoutingGenotype]:
        """Routes drawn from the policy (a fixed generator), the most probable first; last, the
        space's cheapest route (one shared chain) when the policy offers none that fits."""
        generator = torch.Generator().manual_seed(self.trainer.seed + 7_919)
        drawn = {tuple(self.policy.sample(generator)) for _ in range(self.ALTERNATIVES)}
        with torch.no_grad():
            ranked = sorted(drawn, key=lambda d: (-float(self.policy.log_prob(d)), d))
        return [*(self.genotype(list(indices)) for indices in ranked), self.space.cheapest()]

    @property
    def _chain(self) -> float:
        return float(sum(self.layer_flops))

    def cost(self, genotype: RoutingGenotype) -> float:
        """FLOPs of the sub-networks ``genotype`` uses, in hard-sharing chains."""
        return self.space.relative_cost(genotype, self.layer_flops)

    def _max_cost(self) -> float | None:
        """``max_flops`` in hard-sharing chains (the unit of the reward's cost)."""
        if self.max_flops is None:
            return None
        probe = self.derive()
        return self.cost(probe) + (self.max_flops - self.flops(probe)) / self._chain

    def val_rows(self, generator: torch.Generator) -> Any:
        """The validation rows of a policy step; on a multi-domain set one task's rows, the
        tasks taken in turn (``(task, rows)``, as a training batch of that set)."""
        val = self.trainer.data.val
        if isinstance(val, MultiDomainDataset):
            tasks = list(val.domains)
            task = tasks[self.arch_steps % len(tasks)]
            rows = torch.randperm(len(val.domains[task]), generator=generator)
            return task, rows[: self.settings.reward_batch]
        return torch.randperm(len(val), generator=generator)[: self.settings.reward_batch]

    def batch_loss(self, split: str, index: Any, info: StepInfo) -> torch.Tensor:
        """The weighted loss of the supernet on ``index`` of ``split``, in this process alone."""
        t = self.trainer
        x, y = getattr(t.data, split).batch(index)
        x, y = to_device(x, t.device), to_device(y, t.device)
        loss, _ = t.loss(self.supernet, x, y, info, f"policy step on {split}")
        return loss

    def start_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(epoch_key(self.trainer.seed, epoch) + 104_729)
        self.epoch, self.arch_steps = epoch, 0

    def step(self, batch: Any, info: StepInfo) -> dict[str, float]:
        t = self.trainer
        self.prepare_weight_step(info.global_step, self.generator)
        x, y = t.load(t.data.train, batch)
        losses, values = t.task_losses(t.train_model, x, y, info, "weight step")
        loss = t.weighted_update(losses, self.weight_opt)
        if losses:  # a batch without any label (partial labels) logs no loss
            values = {**values, "weight_loss": float(loss)}
        warm = self.epoch >= self.settings.warmup_epochs
        if warm and (info.step + 1) % self.settings.arch_every == 0:
            values.update(self.architecture_step(info.global_step, self.generator))
            self.arch_steps += 1
        return values

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        best = self.delivered()
        self.supernet.use_route(best)
        return {
            "architecture_steps": self.arch_steps,
            "policy_entropy": float(self.policy.entropy().detach()),
            "most_probable": self.space.most_probable_summary(best),
            "genotype": best.to_dict(),
            "relative_cost": self.space.relative_cost(best, self.layer_flops),
            "probabilities": self.probabilities(),
            "summary": f"route {self.space.most_probable_summary(best)}",
        }

    def probabilities(self) -> dict[str, list[float]]:
        return {
            c.key: [round(float(p), 5) for p in probs.detach()]
            for c, probs in zip(self.choices, self.policy.probabilities(), strict=True)
        }

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The policy as the checkpoint's epoch left it, and the supernet on the route that
        epoch ended with (a search resumed after its last epoch evaluates that route)."""
        self.policy.load_state_dict(state["policy"])
        self.supernet.use_route(self.delivered())

    def arch_details(self) -> dict[str, Any]:
        return {
            "layers_count": self.space.layers,
            "choices": {
                c.key: {
                    "options": [list(o) if isinstance(o, tuple) else o for o in c.options],
                    "probabilities": [float(p) for p in probs.detach()],
                }
                for c, probs in zip(self.choices, self.policy.probabilities(), strict=True)
            },
        }

    def summary(self, genotype: Any) -> dict[str, Any]:
        return {
            "genotype": genotype.to_dict(),
            "route": self.space.most_probable_summary(genotype),
            "relative_cost": self.space.relative_cost(genotype, self.layer_flops),
        }

    def describe(self, record: dict[str, Any]) -> str:
        inherited = ", ".join(f"{t} {v:.4g}" for t, v in record["inherited_primary"].items())
        return (
            f"route ({record['strategy']}): {record['route']}\n"
            f"inherited weights: {inherited}; delivered: {delivered_words(record)}; "
            f"cost {record['relative_cost']:.2f} × hard sharing"
        )
