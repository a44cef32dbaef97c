"""One plain sentence on what a comparison says: the searched model's Δ_MTL against the best
hand-designed model, and whether that difference can be told from seed noise (with one seed it
cannot; with several, the paired 95 % interval decides)."""

from __future__ import annotations

from typing import Any

from sharenas.report.paired import paired_difference
from sharenas.runs.records import is_random


def _searched(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((r for r in records if "(searched" in str(r["arch"])), None)


def _baselines(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if "(searched" not in str(r["arch"])
        and not is_random(r)
        and r["arch"] != "single-task"
        and r.get("delta_mtl") is not None
    ]


def reading(records: list[dict[str, Any]]) -> str:
    """The sentence for one seed's comparison (``records``: metrics with Δ_MTL filled)."""
    searched, baselines = _searched(records), _baselines(records)
    if searched is None or searched.get("delta_mtl") is None or not baselines:
        return ""
    best = max(baselines, key=lambda r: r["delta_mtl"])
    gap = searched["delta_mtl"] - best["delta_mtl"]
    place = "above" if gap > 0 else "below"
    return (
        f"Reading: on this one seed the searched model's Δ_MTL is {searched['delta_mtl']:+.2f} % "
        f"against {best['arch']}'s {best['delta_mtl']:+.2f} % (the best hand-designed model "
        f"here), {abs(gap):.2f} points {place} it; one seed cannot tell a gap of this size from "
        "seed noise, so rerun with --seeds 0,1,2 for a paired 95 % interval."
    )


def seeds_reading(by_seed: dict[int, list[dict[str, Any]]]) -> str:
    """The sentence over several seeds: the paired interval of the searched model's Δ_MTL
    against the baseline with the best mean Δ_MTL."""
    seeds = sorted(by_seed)
    searched = [_searched(by_seed[s]) for s in seeds]
    if any(r is None or r.get("delta_mtl") is None for r in searched) or len(seeds) < 2:
        return ""
    names = {r["arch"] for r in _baselines(by_seed[seeds[0]])}
    per_model = {
        n: [next(r for r in _baselines(by_seed[s]) if r["arch"] == n)["delta_mtl"] for s in seeds]
        for n in names
        if all(any(r["arch"] == n for r in _baselines(by_seed[s])) for s in seeds)
    }
    if not per_model:
        return ""
    best = max(per_model, key=lambda n: sum(per_model[n]))
    mine = [r["delta_mtl"] for r in searched]  # type: ignore[index]
    difference = paired_difference(mine, per_model[best])
    verdict = {
        "beats": f"beats {best}",
        "tie": f"is within seed noise of {best}",
        "below": f"is below {best}",
    }[difference.verdict(True)]
    return (
        f"Reading: over {len(seeds)} seeds the searched model {verdict}, the best hand-designed "
        f"model by mean Δ_MTL (difference {difference.text()} points, 95 % interval)."
    )
