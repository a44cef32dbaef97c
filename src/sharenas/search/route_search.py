"""The alternating loop shared by the routing strategies (MTNAS, Chen, Gu & Fu, 2020): weight
steps on the supernet (training split) alternate with steps of the categorical policy over the
routing choices (validation split). Subclasses define how a weight step picks its route and how
the policy learns.

A checkpoint is written atomically after every epoch; ``resume`` continues mid-search to exactly
the result of an uninterrupted search (CPU): every random draw comes from generators seeded by
(seed, epoch).
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sharenas.data.base import TaskSetData
from sharenas.engine.checkpoint import (
    capture,
    load_checkpoint,
    restore,
    save_checkpoint,
    write_jsonl,
)
from sharenas.engine.config import TrainConfig
from sharenas.engine.distributed import resolve_device
from sharenas.engine.evaluate import evaluate, to_device
from sharenas.engine.losses import task_losses
from sharenas.engine.optim import create_optimizer, create_schedule
from sharenas.engine.weighting import create_weighting
from sharenas.search.policy import CategoricalPolicy
from sharenas.spaces.routing import RoutingGenotype, RoutingNetwork, RoutingSpace
from sharenas.tasks import TaskHandler

log = logging.getLogger(__name__)

CHECKPOINT = "search_checkpoint.pt"


class RouteSearch(ABC):
    """Searches the routes of ``supernet`` (a :class:`RoutingSpace` supernet) on ``data``."""

    def __init__(
        self,
        space: RoutingSpace,
        supernet: RoutingNetwork,
        handlers: list[TaskHandler],
        data: TaskSetData,
        train: TrainConfig,
        config: Any,
        run_dir: Path,
        seed: int = 0,
        callbacks: list[Callable[[dict[str, Any]], None]] | None = None,
    ) -> None:
        self.space, self.supernet, self.handlers, self.data = space, supernet, handlers, data
        self.train, self.config = train, config
        self.run_dir, self.seed = Path(run_dir), seed
        self.callbacks = callbacks or []
        self.device = resolve_device(train.device)
        self.supernet.to(self.device)
        self.choices = space.choices()
        self.policy = CategoricalPolicy(
            [c.key for c in self.choices], [len(c.options) for c in self.choices]
        ).to(self.device)
        self.weighting = create_weighting(
            train.weighting, [h.name for h in handlers], train.task_weights
        ).to(self.device)
        self.weight_opt = create_optimizer(
            [*supernet.parameters(), *self.weighting.parameters()], train
        )
        self.arch_opt = torch.optim.Adam(self.policy.parameters(), lr=config.policy_lr)
        per_epoch = math.ceil(len(data.train) / train.batch_size)
        self.steps_per_epoch = min(per_epoch, train.max_batches) if train.max_batches else per_epoch
        self.total_steps = self.steps_per_epoch * train.epochs
        self.schedule = create_schedule(self.weight_opt, train, self.total_steps)
        self.layer_flops = space.layer_flops(supernet, to_device(data.val.example(2), self.device))
        self.baseline: float | None = None

    # --- what a subclass defines ----------------------------------------------------------------
    @abstractmethod
    def prepare_weight_step(self, step: int, generator: torch.Generator) -> None:
        """Set the supernet's route (or relaxation) for the next weight step."""

    @abstractmethod
    def architecture_step(self, step: int, generator: torch.Generator) -> dict[str, float]:
        """One update of the policy; returns the values to log (e.g. reward)."""

    # --- shared ------------------------------------------------------------------------------
    def genotype(self, indices: list[int]) -> RoutingGenotype:
        return self.space.genotype_from(indices)

    def most_probable(self) -> RoutingGenotype:
        return self.genotype(self.policy.most_probable())

    def batch_loss(self, split: str, index: torch.Tensor, where: str) -> torch.Tensor:
        x, y = getattr(self.data, split).batch(index)
        x, y = to_device(x, self.device), to_device(y, self.device)
        losses, _ = task_losses(
            self.handlers, self.supernet(x), y, where, self.run_dir / CHECKPOINT
        )
        return self.weighting(losses)

    def val_rows(self, generator: torch.Generator) -> torch.Tensor:
        size = min(self.config.reward_batch, len(self.data.val))
        return torch.randperm(len(self.data.val), generator=generator)[:size]

    def search_epoch(self, epoch: int) -> dict[str, float]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.data.train), generator=generator)
        batches = list(order.split(self.train.batch_size))[: self.steps_per_epoch]
        sums: dict[str, float] = {"weight_loss": 0.0}
        arch_steps = 0
        self.supernet.train()
        for step, index in enumerate(batches):
            global_step = epoch * self.steps_per_epoch + step
            self.prepare_weight_step(global_step, generator)
            loss = self.batch_loss("train", index, f"weight step {global_step} of the search")
            self.weight_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.weight_opt.step()
            self.schedule.step()
            sums["weight_loss"] += float(loss.detach())
            warm = epoch >= self.config.warmup_epochs
            if warm and (step + 1) % self.config.arch_every == 0:
                for key, value in self.architecture_step(global_step, generator).items():
                    sums[key] = sums.get(key, 0.0) + value
                arch_steps += 1
        self.supernet.genotype, self.supernet.relaxation = self.most_probable(), None
        row = {"weight_loss": sums.pop("weight_loss") / max(1, len(batches))}
        row.update({k: v / max(1, arch_steps) for k, v in sums.items()})
        row["architecture_steps"] = arch_steps
        return row

    def _stateful(self) -> dict[str, Any]:
        return {
            "supernet": self.supernet,
            "policy": self.policy,
            "weighting": self.weighting,
            "weight_opt": self.weight_opt,
            "arch_opt": self.arch_opt,
            "schedule": self.schedule,
        }

    def run(self, resume: bool = False) -> list[dict[str, Any]]:
        """Search for ``train.epochs`` epochs; returns the per-epoch history."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        start, history = 0, []
        checkpoint = self.run_dir / CHECKPOINT
        if resume and checkpoint.exists():
            state = load_checkpoint(checkpoint, self.device)
            restore(state, self._stateful())
            start, history, self.baseline = state["epoch"] + 1, state["history"], state["baseline"]
        for epoch in range(start, self.train.epochs):
            stats = self.search_epoch(epoch)
            best = self.most_probable()
            val = evaluate(
                self.supernet, self.handlers, self.data.val, self.train.eval_batch_size, self.device
            )
            row = {
                "epoch": epoch,
                **stats,
                "policy_entropy": float(self.policy.entropy().detach()),
                "most_probable": self.space.most_probable_summary(best),
                "genotype": best.to_dict(),
                "relative_cost": self.space.relative_cost(best, self.layer_flops),
                "probabilities": {
                    c.key: [round(float(p), 5) for p in probs.detach()]
                    for c, probs in zip(self.choices, self.policy.probabilities(), strict=True)
                },
                "val": val,
            }
            history.append(row)
            write_jsonl(self.run_dir / "search_history.jsonl", history)
            save_checkpoint(
                capture(self._stateful(), epoch=epoch, history=history, baseline=self.baseline),
                checkpoint,
            )
            for callback in self.callbacks:
                callback(row)
            signal = (
                f"reward {stats['reward']:.4g}"
                if "reward" in stats
                else f"val loss {stats.get('val_loss', float('nan')):.4g}"
            )
            log.info(
                "search epoch %d: weight loss %.4g, %s, policy entropy %.3f, route %s",
                epoch,
                stats["weight_loss"],
                signal,
                row["policy_entropy"],
                row["most_probable"],
            )
        return history
