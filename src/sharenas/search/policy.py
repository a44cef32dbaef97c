"""Categorical distributions over a search space's discrete choices (one logit vector per choice),
the architecture parameters of the routing search (MTNAS)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CategoricalPolicy(nn.Module):
    """Independent categorical distributions, one per choice (``sizes[i]`` options), uniform at
    the start."""

    def __init__(self, keys: Sequence[str], sizes: Sequence[int]) -> None:
        super().__init__()
        self.keys = list(keys)
        self.logits = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in sizes)

    def probabilities(self) -> list[torch.Tensor]:
        return [torch.softmax(logit, dim=0) for logit in self.logits]

    def sample(self, generator: torch.Generator) -> list[int]:
        """One option per choice (no gradient)."""
        with torch.no_grad():
            return [
                int(torch.multinomial(p.cpu(), 1, generator=generator))
                for p in self.probabilities()
            ]

    def log_prob(self, indices: Sequence[int]) -> torch.Tensor:
        """Σ over choices of log π(option chosen)."""
        return torch.stack(
            [F.log_softmax(logit, dim=0)[i] for logit, i in zip(self.logits, indices, strict=True)]
        ).sum()

    def entropy(self) -> torch.Tensor:
        """Mean entropy (nats) over choices."""
        terms = [-(F.softmax(x, 0) * F.log_softmax(x, 0)).sum() for x in self.logits]
        return torch.stack(terms).mean()

    def most_probable(self) -> list[int]:
        return [int(logit.argmax()) for logit in self.logits]

    def gumbel_softmax(
        self, temperature: float, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """Relaxed one-hot samples per choice key (Jang et al., ICLR 2017), differentiable in the
        logits; the noise is drawn from ``generator`` so a seed fixes the search."""
        result = {}
        for key, logit in zip(self.keys, self.logits, strict=True):
            uniform = torch.rand(logit.shape, generator=generator).clamp(1e-9, 1 - 1e-9)
            noise = -torch.log(-torch.log(uniform)).to(logit.device)
            result[key] = torch.softmax((logit + noise) / temperature, dim=0)
        return result
