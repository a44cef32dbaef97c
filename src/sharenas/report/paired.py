"""Paired statistics over seeds: how a searched model compares with its references.

Per seed, the searched model and every reference share the data, the seed and the budget, so the
comparison is paired: the difference searched − reference is taken per seed, and its mean gets a
95 % Student-t interval (n − 1 degrees of freedom). "beats" is said only when the interval
excludes 0 on the better side, "below" when it excludes 0 on the worse side, "tie" otherwise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# two-sided 95 % quantiles of Student's t (0.975), by degrees of freedom
T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError("a t interval needs at least 2 paired values")
    return T975[dof - 1] if dof <= len(T975) else 1.96 + 2.4 / dof  # within 0.002 beyond 30


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-seed differences a − b, with its 95 % interval."""

    mean: float
    low: float
    high: float
    n: int

    def verdict(self, higher_is_better: bool = True) -> str:
        """'beats', 'below' or 'tie' for a against b."""
        better, worse = (self.low > 0, self.high < 0)
        if not higher_is_better:
            better, worse = worse, better
        return "beats" if better else "below" if worse else "tie"

    def text(self, digits: int = 3) -> str:
        return f"{self.mean:+.{digits}g} [{self.low:+.{digits}g}, {self.high:+.{digits}g}]"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """The mean of a[i] − b[i] over seeds i and its 95 % t interval."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    differences = [x - y for x, y in zip(a, b, strict=True)]
    mean = statistics.fmean(differences)
    if len(differences) < 2:
        return PairedDifference(mean, -math.inf, math.inf, len(differences))
    half = t_quantile(len(differences) - 1) * statistics.stdev(differences)
    half /= math.sqrt(len(differences))
    return PairedDifference(mean, mean - half, mean + half, len(differences))


def mean_std(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± std`` (sample standard deviation) of ``values``."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {spread:.{digits}f}"


def best_reference(references: dict[str, Sequence[float]], higher_is_better: bool = True) -> str:
    """The reference with the best mean."""
    pick = max if higher_is_better else min
    return pick(references, key=lambda name: statistics.fmean(references[name]))


def comparison_rows(
    searched: Sequence[float],
    references: dict[str, Sequence[float]],
    higher_is_better: bool = True,
    digits: int = 4,
) -> tuple[str, str, PairedDifference, str]:
    """(searched mean ± std, best reference's name, the paired difference against it, verdict)
    for one metric; values are per seed, in the same seed order everywhere."""
    best = best_reference(references, higher_is_better)
    difference = paired_difference(searched, references[best])
    return mean_std(searched, digits), best, difference, difference.verdict(higher_is_better)


def paired_table(
    results: dict[str, list[dict[str, float]]],
    searched: str,
    higher: dict[str, bool],
    yardsticks: Sequence[str] = (),
    digits: int = 4,
    label: str = "searched",
) -> str:
    """A Markdown table: per metric, ``searched``'s mean ± std over seeds against the best of the
    other models (by mean) and against each of ``yardsticks`` (e.g. the random architectures'
    per-seed mean), with the paired difference, its 95 % interval and the verdict.

    ``results[model]`` holds one ``{metric: value}`` per seed, in the same seed order for every
    model; ``higher[metric]`` says whether higher is better; ``label`` names ``searched``'s
    column."""
    lines = [
        f"| metric | {label} | reference | reference value | {label} − reference [95 % CI] "
        "| verdict |",
        "|---|---|---|---|---|---|",
    ]
    hand = [m for m in results if m != searched and m not in yardsticks]
    for metric, better in higher.items():
        mine = [seed[metric] for seed in results[searched]]
        pool = {m: [seed[metric] for seed in results[m]] for m in hand}
        versus = ([best_reference(pool, better)] if pool else []) + list(yardsticks)
        for name in versus:
            theirs = [seed[metric] for seed in results[name]]
            difference = paired_difference(mine, theirs)
            lines.append(
                f"| {metric} | {mean_std(mine, digits)} | {name} | {mean_std(theirs, digits)} | "
                f"{difference.text()} | {difference.verdict(better)} |"
            )
    return "\n".join(lines) + "\n"
