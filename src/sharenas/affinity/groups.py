"""Task groups read from an affinity matrix, and how well they match known groups.

:func:`group_tasks` is average-linkage agglomerative clustering on the symmetrised affinity
S = (Z + Zᵀ)/2: the two groups whose tasks help each other most on average are merged, as long
as that average is positive (a group is only formed where its tasks help each other; TAG's
network selection, Fifty et al. 2021 §3.2, also keeps together only tasks of positive mutual
affinity). :func:`adjusted_rand_index` is Hubert & Arabie's (1985) chance-corrected agreement of
two groupings (1: identical, about 0: no better than chance).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np


def group_tasks(affinity: Sequence[Sequence[float]], threshold: float = 0.0) -> list[int]:
    """Each task's group label (0, 1, … in order of first appearance)."""
    matrix = np.asarray(affinity, dtype=np.float64)
    symmetric = (matrix + matrix.T) / 2
    groups: list[list[int]] = [[i] for i in range(len(symmetric))]
    while len(groups) > 1:
        best, pair = threshold, None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                mean = symmetric[np.ix_(groups[a], groups[b])].mean()
                if mean > best:
                    best, pair = mean, (a, b)
        if pair is None:
            break
        a, b = pair
        groups[a] = sorted(groups[a] + groups[b])
        del groups[b]
    labels = [0] * len(symmetric)
    for label, members in enumerate(sorted(groups)):
        for task in members:
            labels[task] = label
    return labels


def adjusted_rand_index(first: Sequence[int], second: Sequence[int]) -> float:
    """The adjusted Rand index of two labelings of the same items."""
    if len(first) != len(second):
        raise ValueError("the two groupings label different numbers of tasks")
    pairs = sorted(set(zip(first, second, strict=True)))
    table = {p: sum(1 for f, s in zip(first, second, strict=True) if (f, s) == p) for p in pairs}
    index = sum(comb(n, 2) for n in table.values())
    rows = sum(comb(list(first).count(a), 2) for a in set(first))
    cols = sum(comb(list(second).count(b), 2) for b in set(second))
    total = comb(len(first), 2)
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0  # both groupings are trivial (all apart or all together) and agree
    return (index - expected) / (maximum - expected)
