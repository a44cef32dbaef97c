"""Summary rows of the random-architecture baseline: mean ± std over its architectures, and the
one a user would have picked (best on validation), beside the searched model."""

from __future__ import annotations

import statistics
from typing import Any

RANDOM_SUFFIX = "(random)"


def is_random(record: dict[str, Any]) -> bool:
    return str(record.get("arch", "")).endswith(RANDOM_SUFFIX)


def _mean_std(values: list[float], digits: int = 4) -> str:
    if not values:
        return "–"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}g} ± {std:.2g}"


def validation_score(record: dict[str, Any], group: list[dict[str, Any]]) -> float:
    """Mean over tasks of the validation primary metric's signed relative change against the
    group's mean (higher is better): how a user would rank the random architectures."""
    terms = []
    for task, higher in record["higher_is_better"].items():
        metric = record["primary_metric"][task]
        values = [r["val"][task][metric] for r in group]
        mean = statistics.fmean(values)
        change = (record["val"][task][metric] - mean) / (abs(mean) + 1e-12)
        terms.append(change if higher else -change)
    return statistics.fmean(terms)


def best_on_validation(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The random architecture a user would have picked: the best on validation."""
    group = [r for r in records if is_random(r)]
    return max(group, key=lambda r: validation_score(r, group)) if group else None


def mean_row(records: list[dict[str, Any]], tasks: list[str]) -> list[str] | None:
    """The mean ± std of every column over the random architectures among ``records``."""
    group = [r for r in records if is_random(r)]
    if not group:
        return None
    arch = group[0]["arch"]
    mean = [f"random × {len(group)}", f"{arch}: mean ± std"]
    for task in tasks:
        mean += [_mean_std([r["tasks"][task][m] for r in group]) for m in group[0]["tasks"][task]]
    deltas = [r["delta_mtl"] for r in group if r.get("delta_mtl") is not None]
    mean += [
        _mean_std(deltas, 3) if deltas else "–",
        f"{statistics.fmean(r['params'] for r in group):,.0f}",
        f"{statistics.fmean(r['flops_per_example'] for r in group) / 1e6:.3g}",
        f"{statistics.fmean(r['train_seconds'] for r in group):.1f}",
    ]
    return mean
