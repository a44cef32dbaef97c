"""Evolution strategies over a study's points: antithetic Gaussian perturbations of a centre θ, ARS
style (Mania et al., 2018). Each generation proposes θ ± σ ε_k, k = 1..K, and scores each point by
the mean signed task score − ``flops_penalty`` × FLOPs / share-all FLOPs. The b best directions
are kept: θ ← θ + α / (b σ_R) Σ (r⁺ − r⁻) ε. Only its own proposals are evaluated."""

from __future__ import annotations

import math
from typing import Any

import torch

from sharenas.search.partition_study import holders, scalar_score
from sharenas.search.registry import register_strategy
from sharenas.search.strategy import TrialStrategy
from sharenas.spaces.partition_config import StudyConfig


class EvolutionProposer:
    """Enqueues each ES generation once the previous one is finished. The state lives in the
    trials (each carries its generation's centre), and the next generation is a deterministic
    function of the finished one (directions seeded by the study seed and generation), so
    workers that propose it at the same time propose the same points."""

    def __init__(
        self,
        study: Any,
        size: int,
        settings: StudyConfig,
        directions: list[str],
        share_all_flops: float,
        seed: int,
    ) -> None:
        self.study, self.size, self.settings = study, size, settings
        self.directions, self.share_all_flops, self.seed = directions, share_all_flops, seed

    def _rewards(self, current: dict[Any, Any]) -> dict[Any, float]:
        """Each point's :func:`scalar_score`, its tasks' scores relative to their mean over the
        generation's evaluated points (−inf: over the FLOPs budget, or failed beyond retries)."""
        from optuna.trial import TrialState

        done = {
            k: t for k, t in current.items() if t is not None and t.state == TrialState.COMPLETE
        }
        if not done:
            return dict.fromkeys(current, -math.inf)
        tasks = len(self.directions)
        reference = [sum(t.values[i] for t in done.values()) / len(done) for i in range(tasks)]
        penalty, share_all = self.settings.flops_penalty, self.share_all_flops
        return {
            key: scalar_score(
                list(done[key].values), self.directions, penalty, share_all, reference
            )
            if key in done
            else -math.inf
            for key in current
        }

    def propose(self) -> bool:
        """Enqueue the next generation when the current one is finished; False while it runs."""
        from optuna.trial import TrialState

        pairs = self.settings.es_directions
        trials = [
            t for t in self.study.get_trials(deepcopy=False) if "es_generation" in t.user_attrs
        ]
        generation = max((t.user_attrs["es_generation"] for t in trials), default=-1)
        centre = torch.full((self.size,), 0.5, dtype=torch.float64)
        if generation >= 0:
            held = holders([t for t in trials if t.user_attrs["es_generation"] == generation])
            keys = [(k, sign) for k in range(pairs) for sign in (1, -1)]
            current = {key: held.get(("es", generation, *key)) for key in keys}
            live = (TrialState.WAITING, TrialState.RUNNING)
            if any(t is not None and t.state in live for t in current.values()):
                return any(
                    t is not None and t.state == TrialState.WAITING for t in current.values()
                )
            any_trial = next(t for t in trials if t.user_attrs["es_generation"] == generation)
            centre = torch.tensor(any_trial.user_attrs["es_centre"], dtype=torch.float64)
            rewards = self._rewards(current)
            plus = torch.tensor([rewards[(k, 1)] for k in range(pairs)])
            minus = torch.tensor([rewards[(k, -1)] for k in range(pairs)])
            finite = torch.isfinite(plus) & torch.isfinite(minus)
            best = torch.maximum(plus, minus).nan_to_num(neginf=-1e9)
            keep = torch.argsort(best, descending=True)[: self.settings.es_keep]
            keep = keep[finite[keep]]
            if len(keep):
                spread = torch.cat([plus[keep], minus[keep]]).std().clamp_min(1e-8)
                step = (
                    (plus[keep] - minus[keep])[:, None] * self._directions(generation)[keep]
                ).sum(0)
                centre = (centre + self.settings.es_step / (len(keep) * spread) * step).clamp(0, 1)
        generation += 1
        directions = self._directions(generation)
        for k in range(pairs):
            for sign in (1, -1):
                point = (centre + sign * self.settings.es_sigma * directions[k]).clamp(0, 1)
                self.study.enqueue_trial(
                    {f"v{i}": float(v) for i, v in enumerate(point)},
                    user_attrs={
                        "es_generation": generation,
                        "es_k": k,
                        "es_sign": sign,
                        "es_centre": centre.tolist(),
                    },
                )
        return True

    def _directions(self, generation: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 7919 + generation)
        pairs = self.settings.es_directions
        return torch.randn(pairs, self.size, generator=generator, dtype=torch.float64)


@register_strategy
class EvolutionStrategy(TrialStrategy):
    """ARS-style evolution strategies over the study's points (Mania et al., 2018)."""

    name = "es"
    summary = "antithetic evolution strategies over the partitions"
    proposes_own = True

    def sampler(self, seed: int, settings: Any) -> Any:
        import optuna

        return optuna.samplers.RandomSampler(seed=seed)  # asked only for queued points

    def proposer(self, study: Any, size: int, settings: Any, directions: list[str],
                 scale: float, seed: int) -> EvolutionProposer:  # fmt: skip
        return EvolutionProposer(study, size, settings, directions, scale, seed)
