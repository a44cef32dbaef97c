"""A tree of task groups from per-stage affinities, under a FLOPs budget.

Branched MTL (Vandenhende et al., BMVC 2020) picks, among trees within a budget, the one whose
shared layers join the least dissimilar tasks; BMTAS (Bruggemann et al., BMVC 2020) trades task
performance against resources with one weight. Here a tree is an ultrametric: tasks i and j
share the first D_ij stages, and sharing stage s is worth the symmetrised first-order lookahead
affinity A^s_ij of that stage (:mod:`sharenas.affinity.lookahead`: Σ_s A^s ≈ TAG's Z) plus a
price λ on the FLOPs it saves, λ·c_s (c_s: one copy of stage s). Agglomeration, average linkage:
repeatedly join the two clusters and the depth d that gain most,

    gain(A, B, d) = Σ_{s<d} ( mean_{i∈A, j∈B} A^s_ij + λ c_s ),

for d no deeper than either cluster's own branching point, while a gain is measurably positive
(above 2 × its standard error over the measurements, the stages' errors added in quadrature:
two clusters join only where sharing helps, as in TAG's grouping, and noise around 0 is not
help). The joined pair then keeps sharing
the stages below d that do not measurably hurt it: its mean affinity there is not below −2 × the
root mean square of its pairs' standard errors over the measurements (conservative: the pairs'
errors are not taken as independent, so a stage is cut only on clear evidence), because a
branch costs FLOPs and parameters and is only opened where the measurements ask for one. With
λ = 0 this is the tree the affinities ask for; a FLOPs budget raises λ until the tree fits,
ending at hard sharing (every stage shared) when λ exceeds every affinity's weight. The trees'
FLOPs need not fall monotonically in λ, so λ is scanned on a geometric grid, then bisected
between the last grid value whose tree is over the budget and the first whose tree fits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BISECTION_STEPS = 30
GRID = 48  # geometric λ values scanned, from the largest down by halves
SIGNIFICANT = 2.0  # standard errors below 0 at which a stage hurts a pair


def _symmetric(matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [(np.asarray(m) + np.asarray(m).T) / 2 for m in matrices]


def split_depths(
    staged: Sequence[np.ndarray],
    costs: Sequence[float],
    price: float,
    errors: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """D[i, j]: how many stages tasks i and j share (0: they branch at the input)."""
    layers, size = len(staged), len(staged[0])
    worth = _symmetric(staged)
    error = _symmetric(errors) if errors is not None else [np.zeros_like(w) for w in worth]
    clusters: list[tuple[list[int], int]] = [([i], layers) for i in range(size)]
    depths = np.zeros((size, size), dtype=int)
    np.fill_diagonal(depths, layers)
    while len(clusters) > 1:
        best, choice = 0.0, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                (first, deep_a), (second, deep_b) = clusters[a], clusters[b]
                cross = np.ix_(first, second)
                gain, variance = 0.0, 0.0
                for s in range(min(deep_a, deep_b)):
                    gain += float(worth[s][cross].mean()) + price * costs[s]
                    variance += float((error[s][cross] ** 2).mean())
                    margin = gain - SIGNIFICANT * variance**0.5  # sharing measurably helps
                    if margin > 1e-15 and gain > best + 1e-15:
                        best, choice = gain, (a, b, s + 1)
        if choice is None:
            break
        a, b, depth = choice
        first, second = clusters[a][0], clusters[b][0]
        while depth < min(clusters[a][1], clusters[b][1]):  # stages that do not hurt stay shared
            cross = np.ix_(first, second)
            hurt = worth[depth][cross].mean() + price * costs[depth]
            if hurt < -SIGNIFICANT * float(np.sqrt((error[depth][cross] ** 2).mean())):
                break
            depth += 1
        depths[np.ix_(first, second)] = depth
        depths[np.ix_(second, first)] = depth
        clusters[a] = (sorted(first + second), depth)
        del clusters[b]
    return depths


def stage_labels(depths: np.ndarray) -> list[list[int]]:
    """Per stage, each task's group label: i and j are together at stage s when D_ij > s."""
    layers, size = int(depths.max()), len(depths)
    rows = []
    for s in range(layers):
        label = list(range(size))
        for i in range(size):
            label[i] = next(j for j in range(size) if depths[i, j] > s)
        rows.append(label)
    return rows


def tree_flops(labels: list[list[int]], costs: Sequence[float], heads: float) -> float:
    return heads + sum(len(set(row)) * c for row, c in zip(labels, costs, strict=True))


def affinity_tree(
    staged: Sequence[np.ndarray],
    costs: Sequence[float],
    heads: float = 0.0,
    max_flops: float | None = None,
    errors: Sequence[np.ndarray] | None = None,
) -> tuple[list[list[int]], float]:
    """The tree's labels per stage and the price λ it was cut at: λ = 0 when it fits
    ``max_flops`` (or there is none), else the least λ found whose tree fits. ``errors``:
    each stage's standard errors (a stage shared unless it hurts by two of them)."""
    labels = stage_labels(split_depths(staged, costs, 0.0, errors))
    if max_flops is None or tree_flops(labels, costs, heads) <= max_flops:
        return labels, 0.0
    weight = max(float(np.abs(np.asarray(m)).max()) for m in staged)
    ceiling = 4.0 * max(weight, 1e-12) / max(min(costs), 1e-12)  # every stage shared beyond it

    def fits(price: float) -> bool:
        tree = stage_labels(split_depths(staged, costs, price, errors))
        return tree_flops(tree, costs, heads) <= max_flops  # type: ignore[operator]

    grid = [ceiling / 2**k for k in reversed(range(GRID))]  # increasing
    high = next((p for p in grid if fits(p)), ceiling)
    below = [p for p in grid if p < high]
    low = below[-1] if below else 0.0
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return stage_labels(split_depths(staged, costs, high, errors)), high
