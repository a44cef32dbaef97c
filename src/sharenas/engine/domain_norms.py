"""Domain-specific batch norms for multi-domain task sets (Bilen & Vedaldi, 2017; Rebuffi et
al., NeurIPS 2017, the Visual Decathlon models): every batch norm keeps, per domain, its own
running statistics and its own scale and shift; the shared convolutions see each domain's
features normalised as that domain's. ``train.domain_norms: true`` turns it on for a
multi-domain set; the engine selects the batch's domain around every forward.

The per-domain tensors are registered on the norm itself (``domain{i}_running_mean``,
``domain{i}_weight``…), so checkpoints hold them; a selection rebinds the norm's
``running_mean``, ``running_var``, ``num_batches_tracked``, ``weight`` and ``bias`` to the
domain's for the duration of the forward.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
AFFINE = ("weight", "bias")


def add_domain_norms(model: nn.Module, domains: Sequence[str]) -> None:
    """Give every batch norm of ``model`` per-domain statistics and affine parameters (copies
    of its own), listed on ``model`` for :func:`domain`; a model that has them already is left
    as it is."""
    if hasattr(model, "domain_norm_modules"):
        return
    model.domain_norm_modules = [m for m in model.modules() if isinstance(m, NORMS)]
    for norm in model.domain_norm_modules:
        norm.domains = list(domains)
        for i in range(len(domains)):
            for name in STATISTICS:
                value = getattr(norm, name)
                if value is not None:
                    norm.register_buffer(f"domain{i}_{name}", value.detach().clone())
            for name in AFFINE:
                value = getattr(norm, name)
                if value is not None:
                    norm.register_parameter(
                        f"domain{i}_{name}", nn.Parameter(value.detach().clone())
                    )
        if norm.affine:  # the shared copies are never used again
            norm.weight.requires_grad_(False)
            norm.bias.requires_grad_(False)


@contextmanager
def domain(model: nn.Module, name: str) -> Iterator[None]:
    """Within the block, the batch norms of ``model`` use domain ``name``'s statistics and
    affine parameters (a model without domain norms is unchanged, at no cost)."""
    saved: list[tuple[nn.Module, dict[str, torch.Tensor | None], dict[str, nn.Parameter]]] = []
    for norm in getattr(model, "domain_norm_modules", ()):
        if name not in norm.domains:
            continue
        i = norm.domains.index(name)
        buffers = {n: norm._buffers[n] for n in STATISTICS if n in norm._buffers}
        parameters = {n: norm._parameters[n] for n in AFFINE if norm._parameters.get(n) is not None}
        saved.append((norm, buffers, parameters))  # type: ignore[arg-type]
        for n in buffers:
            norm._buffers[n] = getattr(norm, f"domain{i}_{n}")
        for n in parameters:
            norm._parameters[n] = getattr(norm, f"domain{i}_{n}")
    try:
        yield
    finally:
        for norm, buffers, parameters in saved:
            norm._buffers.update(buffers)
            norm._parameters.update(parameters)
