"""Single-shot, first-order gradient search of fusion gates (MTL-NAS, Gao et al., CVPR 2020,
Sec. 3.3), as a step of the trainer's loop.

The training set is split in two halves: one trains the network weights, the other the edge
logits α. As in the authors' code (``ARCH.MIXED_DATA``, ``TRAIN_SPLIT`` 0.5) the halves are drawn
again every epoch, so both see all the data over the search (``mixed_data: false`` fixes one
split). Every step takes one architecture step and one weight step, each on its own batch,
and, as in that code (whose search and training both run ``TRAIN.STEPS`` iterations), an epoch
of the search takes as many weight steps as a training epoch: two draws of the halves
(``weight_steps: half`` takes one, half the weight steps, about one training's cost):

- architecture step (an α-half batch): deterministic gates σ(α), or relaxed-Bernoulli samples
  with ``hard_arch_training`` (``ARCH.HARD_ARCH_TRAINING``: true in the code's defaults, false
  in its ablation default config and all shipped configs but the stochastic-relaxation
  ablations; sharenas follows the ablation default); loss = Σ task losses + λ(t) · mean over
  edges of H(σ(α)), with H(p) = −p log p − (1−p) log(1−p), the minimum-entropy regulariser that
  drives every gate to 0 or 1; λ(t) ramps linearly from 0 to λ over ``entropy_period``
  (``ARCH.ENTROPY_PERIOD``: (0, 1) in the defaults, (0, 0), the full λ at once, in every
  shipped config and here); Adam (betas (0.5, 0.999), weight decay 1e-3) on α only;
- weight step (a weight-half batch): gates sampled from a relaxed Bernoulli whose temperature is
  annealed as τ₀ (1 − t/T)²; the fusion layers learn ``fusion_lr_multiplier`` times faster than
  the backbones.

Derivation keeps the edges with σ(α) > 0.5; under a FLOPs budget (``search.max_flops``) the
weakest kept edges are dropped, one at a time, until the network fits.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.data.base import MultiDomainDataset, epoch_key, shuffled_batches
from sharenas.engine.step import StepInfo
from sharenas.search.base import SearchStep
from sharenas.search.registry import register_strategy
from sharenas.search.strategy import OneShotStrategy
from sharenas.spaces.fusion import FusionGenotype, FusionSpace


class GradientSearchConfig(BaseModel):
    """Settings of ``search.strategy: gradient`` (``search.gradient``)."""

    model_config = ConfigDict(extra="forbid")

    entropy_weight: float = Field(
        10.0, ge=0, description="λ of the minimum-entropy term (0 switches it off)."
    )
    arch_lr: float = Field(1e-3, gt=0)
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = Field(1e-3, ge=0)
    fusion_lr_multiplier: float = Field(10.0, gt=0)
    initial_temperature: float = Field(1.0, gt=0)
    min_temperature: float = Field(0.05, gt=0)
    weight_steps: Literal["full", "half"] = Field(
        "full",
        description="full: the weights take as many steps per epoch as a training epoch (the "
        "halves are drawn twice per epoch, as the MTL-NAS code runs TRAIN.STEPS iterations in "
        "both its search and its training); half: one draw per epoch, so the weights take half "
        "a training epoch's steps and the search costs about one training.",
    )
    mixed_data: bool = Field(
        True,
        description="Draw the weight and architecture halves again every epoch (MTL-NAS code: "
        "ARCH.MIXED_DATA); false: one split fixed by the seed for the whole search.",
    )
    hard_arch_training: bool = Field(
        False,
        description="Relaxed-Bernoulli gates in the architecture step too (MTL-NAS: "
        "ARCH.HARD_ARCH_TRAINING); false: deterministic gates sigmoid(alpha).",
    )
    entropy_period: tuple[float, float] = Field(
        (0.0, 0.0),
        description="Fractions of the search over which the entropy weight ramps linearly from "
        "0 to entropy_weight (MTL-NAS: ARCH.ENTROPY_PERIOD); (0, 0): the full weight at once.",
    )


DECIDED_ENTROPY = 0.3  # nats: mean gate entropy below it (gates beyond about 0.08 / 0.92)
TRAJECTORY_POINTS = 20  # gate probabilities recorded about this many times per epoch


def gate_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Mean binary entropy (nats) of the gate probabilities."""
    p = probabilities.clamp(1e-7, 1 - 1e-7)
    return -(p * p.log() + (1 - p) * (1 - p).log()).mean()


def temperature(step: int, total: int, config: GradientSearchConfig) -> float:
    """τ₀ (1 − t/T)², floored at ``min_temperature``."""
    return max(
        config.min_temperature,
        config.initial_temperature * (1.0 - min(step, total) / max(1, total)) ** 2,
    )


def entropy_weight(step: int, total: int, config: GradientSearchConfig) -> float:
    """λ(t): 0 before the period, λ after it, linear in between (the authors' ``poly`` with
    power 1)."""
    rate, (start, end) = step / max(1, total), config.entropy_period
    if rate <= start:
        return 0.0
    if rate >= end:
        return config.entropy_weight
    return config.entropy_weight * (rate - start) / (end - start)


def half_split(n: int, seed: int, epoch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight half, architecture half) of the training rows, drawn by the seed (and the epoch,
    when the halves are drawn again every epoch)."""
    key = seed + 7919 if epoch is None else epoch_key(seed + 7919, epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(key))
    return order[: n // 2], order[n // 2 :]


class GradientStep(SearchStep):
    """One architecture step and one weight step per batch of the weight half."""

    space: FusionSpace
    settings: GradientSearchConfig

    def attach(self, trainer: Any) -> None:
        super().attach(trainer)
        net, config = self.supernet, self.settings
        weights = [*net.network_parameters(), *trainer.weighting.parameters()]
        fusion_lr = trainer.config.lr * config.fusion_lr_multiplier
        self.weight_opt = trainer.create_optimizer(
            [{"params": weights}, {"params": net.fusion_parameters(), "lr": fusion_lr}]
        )
        self.arch_opt = torch.optim.Adam(
            net.architecture_parameters(),
            lr=config.arch_lr,
            betas=config.arch_betas,
            weight_decay=config.arch_weight_decay,
        )

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"weights": self.weight_opt, "architecture": self.arch_opt}

    def batches(self, epoch: int) -> list[tuple[Any, Any]]:
        """(weight batch, architecture batch) pairs of the epoch's draws of the two halves."""
        draws = [epoch] if self.settings.weight_steps == "half" else [2 * epoch, 2 * epoch + 1]
        pairs = [pair for draw in draws for pair in self._draw(draw)]
        return pairs[: self.trainer.config.max_batches]

    def _draw(self, draw: int) -> list[tuple[Any, Any]]:
        """One draw of the halves (a fixed split without ``mixed_data``): a pass over the weight
        half, each batch paired with an α-half batch (the α half is cycled if shorter)."""
        train = self.trainer.data.train
        if isinstance(train, MultiDomainDataset):
            return self._draw_domains(train, draw)
        return self._pairs(len(train), draw, self.trainer.seed)

    def _pairs(self, rows: int, draw: int, seed: int) -> list[tuple[Any, Any]]:
        """(weight batch, α batch) pairs over ``rows`` rows halved as the draw says."""
        size = self.trainer.config.batch_size
        weight_rows, arch_rows = half_split(rows, seed, draw if self.settings.mixed_data else None)
        weight = shuffled_batches(weight_rows, size, epoch_key(seed, 2 * draw))
        arch = shuffled_batches(arch_rows, size, epoch_key(seed, 2 * draw + 1))
        return [(index, arch[i % len(arch)]) for i, index in enumerate(weight)]

    def _draw_domains(self, train: MultiDomainDataset, draw: int) -> list[tuple[Any, Any]]:
        """A multi-domain set: every task's rows halved on their own; each weight batch (one
        task's rows) paired with an α batch of the same task, the tasks ordered as the set's
        ``sampling`` orders training batches (round-robin or proportional)."""
        seed = self.trainer.seed
        per_task = {
            task: [((task, w), (task, a)) for w, a in self._pairs(len(domain), draw, seed + 7 * i)]
            for i, (task, domain) in enumerate(train.domains.items())
        }
        return train.interleave(per_task, seed, draw)

    def step(self, batch: tuple[Any, Any], info: StepInfo) -> dict[str, float]:
        t, net = self.trainer, self.supernet
        weight_rows, arch_rows = batch
        config = self.settings
        net.temperature = temperature(info.global_step, info.total_steps, config)
        net.gate_mode = "sample" if config.hard_arch_training else "deterministic"
        probabilities = net.probabilities()
        entropy = gate_entropy(probabilities)
        if info.step % max(1, t.steps_per_epoch // TRAJECTORY_POINTS) == 0:
            self.trajectory.append(
                [info.global_step, [round(float(p), 5) for p in probabilities.detach().cpu()]]
            )
        x, y = t.load(t.data.train, arch_rows)
        task_loss, _ = t.loss(t.train_model, x, y, info, "architecture step")
        weight = entropy_weight(info.global_step, info.total_steps, config)
        arch_loss = task_loss + weight * entropy
        t.update(arch_loss, self.arch_opt)
        net.gate_mode = "sample"
        x, y = t.load(t.data.train, weight_rows)
        losses, values = t.task_losses(t.train_model, x, y, info, "weight step")
        weight_loss = t.weighted_update(losses, self.weight_opt)
        extra = {"arch_loss": arch_loss, "entropy": entropy}
        if losses:  # a batch without any label (partial labels) logs no loss
            extra["weight_loss"] = weight_loss
        tensors = {k: float(v.detach()) for k, v in extra.items()}
        return {**values, **tensors, "entropy_weight": weight}

    def start_epoch(self, epoch: int) -> None:
        self.trajectory: list[list[Any]] = []  # [global step, every gate's σ(α)] in the epoch

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        self.supernet.gate_mode = "deterministic"
        probabilities = self.supernet.probabilities().detach().cpu()
        kept = int((probabilities > 0.5).sum())
        return {
            "edges_kept": kept,
            "trajectory": self.trajectory,
            "probabilities": {
                e.key(): round(float(p), 6)
                for e, p in zip(self.supernet.edges, probabilities, strict=True)
            },
            "temperature": self.supernet.temperature,
            "summary": f"{kept}/{len(self.supernet.edges)} edges kept",
        }

    def derive(self) -> FusionGenotype:
        self.supernet.gate_mode = "deterministic"
        return self.space.derive(self.supernet)

    def undecided(self) -> str | None:
        """MTL-NAS keeps the inherited weights because the minimum-entropy term has driven every
        gate to 0 or 1, so pruning the closed edges leaves the supernet's function. A search too
        short for that (gates near 0.5, where the entropy term's gradient vanishes) leaves
        half-open edges: pruning them changes the function (BENCHMARKS.md, fusion on planted
        groups: −6.9 % Δ_MTL inherited against +40 % for its supernet)."""
        entropy = float(gate_entropy(self.supernet.probabilities().detach()))
        if entropy <= DECIDED_ENTROPY:
            return None
        return (
            f"the gates were undecided at the end of the search (mean gate entropy "
            f"{entropy:.2f} nats, above {DECIDED_ENTROPY}; ln 2 = 0.69 is a coin flip)"
        )

    def alternatives(self) -> list[FusionGenotype]:
        """The derived edges less the weakest one, two, … all of them (cheaper networks)."""
        probabilities = self.supernet.probabilities().detach().tolist()
        probability = dict(zip(self.supernet.edges, probabilities, strict=True))
        kept = sorted(self.derive().edges, key=lambda e: probability[e], reverse=True)
        return [FusionGenotype(tuple(sorted(kept[:n]))) for n in range(len(kept) - 1, -1, -1)]

    def arch_details(self) -> dict[str, Any]:
        kept = set(self.delivered().edges)
        probabilities = self.supernet.probabilities().detach().cpu().tolist()
        return {
            "stages": {name: len(specs) for name, specs in self.space.stage_specs.items()},
            "candidates": [
                {"edge": e.key(), "probability": p, "kept": e in kept}
                for e, p in zip(self.supernet.edges, probabilities, strict=True)
            ],
        }

    def summary(self, genotype: Any) -> dict[str, Any]:
        return {
            "edges_kept": len(genotype.edges),
            "candidate_edges": len(self.supernet.edges),
            "entropy_weight": self.settings.entropy_weight,
        }

    def describe(self, record: dict[str, Any]) -> str:
        gap = ", ".join(f"{t} {v:+.4f}" for t, v in record["search_evaluation_gap"].items())
        return (
            f"edges kept: {record['edges_kept']} of {record['candidate_edges']}; "
            f"search-evaluation gap (derived − supernet): {gap}"
        )


@register_strategy
class GradientStrategy(OneShotStrategy):
    """MTL-NAS's single-shot gradient search of the fusion gates (Gao et al., CVPR 2020)."""

    name = "gradient"
    summary = (
        "gradient descent on the edges' gates, the supernet's weights delivered "
        "without retraining (single-shot)"
    )
    settings_key, settings_class = "gradient", GradientSearchConfig
    step_class = GradientStep
