"""MLP backbone for tables: categorical columns through embeddings, then Linear-(norm)-ReLU
stages. Batch norm after each linear layer (Ioffe & Szegedy, 2015) with near-zero embedding
initialisation is what the multi-task recommendation libraries use on census-income (torch-rechub's
MLP); the defaults are measured (BENCHMARKS.md, "Baselines at the peer libraries' level")."""

from __future__ import annotations

import torch
from torch import nn

from sharenas.backbones._registry import register_backbone
from sharenas.backbones.base import Backbone, StageSpec
from sharenas.blocks import Norm, linear_block
from sharenas.data.base import InputSpec


def embedding_dim(cardinality: int, cap: int) -> int:
    """fast.ai's rule of thumb, 1.6·n^0.56, capped."""
    return max(1, min(cap, round(1.6 * cardinality**0.56)))


class TabularEmbedding(nn.Module):
    """``{"numeric": (N, D), "categorical": (N, C)}`` → (N, D + Σ embedding dims).

    Each column's width is ``width``, or fast.ai's rule capped at ``max_embedding``; its vectors
    start N(0, ``init_std``²), or PyTorch's N(0, 1) when ``init_std`` is None."""

    def __init__(
        self,
        input_spec: InputSpec,
        max_embedding: int = 16,
        width: int | None = None,
        init_std: float | None = None,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, width or embedding_dim(card, max_embedding))
            for card in input_spec.categorical_cardinalities
        )
        for embedding in self.embeddings if init_std is not None else []:
            nn.init.normal_(embedding.weight, std=init_std)
        self.out_features = input_spec.num_numeric + sum(e.embedding_dim for e in self.embeddings)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if "numeric" in x and x["numeric"].shape[1]:
            parts.append(x["numeric"])
        if self.embeddings:
            codes = x["categorical"]
            parts.extend(emb(codes[:, i]) for i, emb in enumerate(self.embeddings))
        return torch.cat(parts, dim=1)


class MlpBackbone(Backbone):
    def __init__(
        self,
        input_spec: InputSpec,
        widths: tuple[int, ...] = (256, 128),
        dropout: float = 0.0,
        max_embedding: int = 16,
        norm: Norm = "batch",
        embedding_width: int | None = None,
        embedding_std: float | None = 1e-4,
    ) -> None:
        super().__init__(input_spec)
        if input_spec.kind != "tabular":
            raise ValueError("the mlp backbone reads tables; use cnn, resnet or encdec for images")
        self.stem = TabularEmbedding(input_spec, max_embedding, embedding_width, embedding_std)
        self.widths, self.norm = tuple(widths), norm
        stages, width = [], self.stem.out_features
        for size in widths:
            stages.append(nn.Sequential(*linear_block(width, size, norm, dropout)))
            width = size
        self.stages = nn.ModuleList(stages)
        self.stage_specs = [StageSpec(w, 1) for w in widths]

    def describe(self) -> str:
        norm = "" if self.norm == "none" else f" ({self.norm} norm)"
        return "mlp " + "-".join(map(str, self.widths)) + norm


@register_backbone("mlp")
def mlp(input_spec: InputSpec, **params: object) -> Backbone:
    return MlpBackbone(input_spec, **params)  # type: ignore[arg-type]
