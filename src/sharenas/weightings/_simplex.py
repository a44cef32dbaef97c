"""Small convex problems over the probability simplex {w ≥ 0, Σ w = 1} (float64), solved by
projected gradient descent with a backtracking line search: the inner problems of MGDA
(T ≥ 3 tasks) and CAGrad, in place of the authors' SciPy solvers."""

from __future__ import annotations

from collections.abc import Callable

import torch

Objective = Callable[[torch.Tensor], torch.Tensor]


def project_to_simplex(v: torch.Tensor) -> torch.Tensor:
    """The Euclidean projection of ``v`` onto the simplex (Duchi et al., ICML 2008, Fig. 1)."""
    u, _ = torch.sort(v, descending=True)
    cumulative = torch.cumsum(u, 0) - 1
    index = torch.arange(1, len(v) + 1, dtype=v.dtype)
    rho = int(torch.nonzero(u - cumulative / index > 0).max())
    theta = cumulative[rho] / (rho + 1)
    return (v - theta).clamp(min=0)


def minimize_on_simplex(
    objective: Objective,
    gradient: Objective,
    start: torch.Tensor,
    iterations: int = 500,
    tolerance: float = 1e-12,
) -> torch.Tensor:
    """A minimiser of the convex ``objective`` over the simplex, from ``start``."""
    w, value, step = start.double(), objective(start.double()), 1.0
    for _ in range(iterations):
        g = gradient(w)
        while True:
            candidate = project_to_simplex(w - step * g)
            change = candidate - w
            bound = value + g @ change + (change @ change) / (2 * step)
            new_value = objective(candidate)
            if new_value <= bound + 1e-15 or step < 1e-20:
                break
            step /= 2
        if float(change.abs().sum()) < tolerance:
            return candidate
        w, value, step = candidate, new_value, step * 2
    return w
