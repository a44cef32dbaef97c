"""``sharenas auto --seeds``: the choice is made once (on the config's seed); the recommended
architecture, the best baseline, the best searched model and the best random architecture (each
best on validation, within the budget, left out when it is the recommended one) and the
single-task reference are then trained from scratch on every other
seed, so that the recommendation is compared with paired 95 % intervals over seeds. A model
delivered with a supernet's inherited (or fine-tuned) weights is also trained from scratch on
the config's seed, so that every seed measures the same procedure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.config import Config
from sharenas.report.paired import PairedDifference, paired_difference
from sharenas.runs.folder import ARCH, read_arch, with_arch
from sharenas.runs.result import open_run
from sharenas.runs.training import ensure_trained
from sharenas.tasks import delta_mtl
from sharenas.workflows.auto_plan import REFERENCE
from sharenas.workflows.auto_scores import REFERENCE_NAME, Candidate, eligible_models
from sharenas.workflows.seeds import with_seed


def contenders(
    candidates: list[Candidate], chosen: Candidate, budget: float
) -> dict[str, Candidate]:
    """The models compared over seeds, by role."""
    eligible = eligible_models(candidates, budget)
    roles = {"recommended": chosen}
    kinds = (("best baseline", "baseline"), ("best search", "search"), ("best random", "random"))
    for role, kind in kinds:
        pool = [c for c in eligible if c.kind == kind and c.name != REFERENCE_NAME]
        if pool and max(pool, key=lambda c: c.val_delta) is not chosen:
            roles[role] = max(pool, key=lambda c: c.val_delta)
    roles[REFERENCE] = next(c for c in candidates if c.name == REFERENCE_NAME)
    return roles


def _arch_config(config: Config, candidate: Candidate) -> Config:
    """``config`` with the candidate's architecture (hand-designed or searched)."""
    arch = read_arch(candidate.folder / ARCH)
    if arch.get("kind") == "genotype":
        return with_arch(config, arch["space"], arch)
    return with_arch(config, arch["arch"])


def from_scratch(candidate: Candidate) -> bool:
    """Whether the candidate's delivered weights come from training its architecture from
    scratch (a baseline, a random point, a search's retrained network or its supernet trained
    as that very network), not from a supernet's inherited or fine-tuned weights."""
    metrics = candidate.metrics
    if metrics.get("derive_skipped"):
        return True
    if metrics.get("derive") in ("none", "finetune"):
        return False
    return metrics.get("retrained", {}).get("kept") != "inherited"


def _trained(config: Config, folder: Path, progress: bool) -> dict[str, Any]:
    ensure_trained(config, folder, progress=progress, label=f"auto: {folder}")
    return open_run(folder).metrics


def seeds_comparison(
    state: Any,
    config: Config,
    out: Path,
    candidates: list[Candidate],
    chosen: Candidate,
    seeds: list[int] | None,
    progress: bool,
) -> dict[str, Any] | None:
    """Test Δ_MTL per role and seed, and the recommended model's paired differences against
    the other roles; None without ``seeds``."""
    if not seeds or len(seeds) < 2:
        return None
    roles = contenders(candidates, chosen, state.data["plan"]["budget"])
    deltas: dict[str, dict[int, float]] = {r: {config.seed: c.test_delta} for r, c in roles.items()}
    reference = roles[REFERENCE].metrics
    for role, c in roles.items():  # every seed measures one procedure: training from scratch
        if not from_scratch(c):
            folder = out / "seeds" / f"seed-{config.seed}" / role.replace(" ", "-")
            m = _trained(_arch_config(config, c), folder, progress)
            deltas[role][config.seed] = delta_mtl(
                m["primary"], reference["primary"], m["higher_is_better"]
            )
    for seed in (s for s in seeds if s != config.seed):
        metrics = {
            role: _trained(
                with_seed(_arch_config(config, c), seed),
                out / "seeds" / f"seed-{seed}" / role.replace(" ", "-"),
                progress,
            )
            for role, c in roles.items()
        }
        single = metrics[REFERENCE]
        for role, m in metrics.items():
            deltas[role][seed] = delta_mtl(m["primary"], single["primary"], m["higher_is_better"])
    order = sorted(deltas["recommended"])
    paired: dict[str, PairedDifference] = {
        role: paired_difference(
            [deltas["recommended"][s] for s in order], [values[s] for s in order]
        )
        for role, values in deltas.items()
        if role not in ("recommended", REFERENCE)
    }
    paired[REFERENCE] = paired_difference(
        [deltas["recommended"][s] for s in order], [0.0] * len(order)
    )
    return {
        "seeds": order,
        "deltas": deltas,
        "paired": paired,
        "models": {r: c.name for r, c in roles.items()},
    }
