"""The delivered network of a channel partition (Feature Partitioning, Newell et al., 2019):
physically pruned, with tasks that take the same path sharing its passes, so that it costs what
:func:`~sharenas.spaces.partition_resources.partition_resources` counts.

- The stem and the stages before the first masked stage run once.
- The first layer of the first masked stage runs once, on the union of the channels the tasks
  write; each path then selects its own channels.
- From there on, tasks whose masks agree up to a stage (one *path*) share that stage's pass. A
  path computes only its channels.
- Each layer stores one weight for all paths: the rows any task writes by the columns any task
  reads. A path indexes its rows and columns; no channel outside every mask is stored.
- Each task keeps its head, reading its own channels.

Batch norms hold the running statistics of the path's first task; on a multi-output set the
tasks of a path see the same features, so their statistics agree, and a path is split where
they do not (for example per-domain statistics). The network is for inference: a pruned copy of
a trained :class:`~sharenas.spaces.partition_network.PartitionNetwork`, whose outputs it
reproduces.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sharenas.errors import ConfigError
from sharenas.spaces.partition_network import PartitionNetwork
from sharenas.spaces.partition_resources import (
    LayerUse,
    Mask,
    _prune,
    _pruned_copy,
    _sizes,
    check_chain_stages,
    head_use,
    stage_use,
    union_mask,
)


def _positions(within: Mask, channels: Mask, width: int) -> torch.Tensor | None:
    """Where ``channels`` lie among ``within`` (both masks of a layer ``width`` wide); None
    when they are all of them."""
    within = torch.ones(width, dtype=torch.bool) if within is None else within
    channels = torch.ones(width, dtype=torch.bool) if channels is None else channels
    if torch.equal(within, channels):
        return None
    return torch.nonzero(channels[within]).reshape(-1)


class Gathered(nn.Module):
    """One path's part of a layer stored once for every path: ``store``'s weight at the path's
    ``rows`` and ``cols`` (None: all)."""

    def __init__(
        self, store: nn.Module, rows: torch.Tensor | None, cols: torch.Tensor | None
    ) -> None:
        super().__init__()
        self.store = store
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.store.weight, self.store.bias
        if self.rows is not None:
            weight = weight[self.rows]
            bias = None if bias is None else bias[self.rows]
        if self.cols is not None:
            weight = weight[:, self.cols]
        if isinstance(self.store, nn.Linear):
            return F.linear(x, weight, bias)
        return self.store._conv_forward(x, weight, bias)


class GatheredNorm(nn.Module):
    """A batch norm (inference) on one path's channels: the shared scale and shift of
    ``store`` at ``rows``, the path's own running statistics."""

    def __init__(
        self,
        store: nn.Module,
        rows: torch.Tensor | None,
        running_mean: torch.Tensor,
        running_var: torch.Tensor,
    ) -> None:
        super().__init__()
        self.store = store
        self.register_buffer("rows", rows)
        self.register_buffer("running_mean", running_mean.clone())
        self.register_buffer("running_var", running_var.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.store.weight, self.store.bias
        if self.rows is not None:
            weight, bias = weight[self.rows], bias[self.rows]
        return F.batch_norm(
            x, self.running_mean, self.running_var, weight, bias, False, 0.0, self.store.eps
        )


class Select(nn.Module):
    """The path's channels of features computed once on the union of channels."""

    def __init__(self, index: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer("index", index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.index is None else x.index_select(1, self.index)


def _leading_modules(stage: nn.Module) -> list[nn.Module]:
    """The modules a stage applies before its first linear or convolution layer (an
    up-sampling, say), which the opening pass runs once with that layer; a clear error when the
    layer is not a direct step of a sequential stage."""
    children = list(stage.children()) if isinstance(stage, nn.Sequential) else []
    for k, child in enumerate(children):
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            return children[:k]
        if any(isinstance(m, (nn.Linear, nn.Conv2d)) for m in child.modules()):
            break
    raise ConfigError(
        "the first masked stage does not start with a sequence of layers whose first weighted "
        "layer is a direct step; the partition space's delivered network supports mlp, cnn and "
        "encdec stages."
    )


def _statistics_key(network: PartitionNetwork, stage: int, task: int) -> bytes:
    statistics = network.task_statistics(stage, task)
    return b"".join(t.detach().cpu().numpy().tobytes() for t in statistics.values())


class DeployedPartitionNetwork(nn.Module):
    """The pruned, path-sharing network of a trained partitioned network (module doc)."""

    def __init__(self, network: PartitionNetwork) -> None:
        super().__init__()
        check_chain_stages(network)
        if any(t.device.type != "cpu" for t in network.buffers()):
            network = copy.deepcopy(network).cpu()  # the masks are read on the CPU
        stages = network.backbone.stages
        self.task_names = list(network.task_names)
        self.first = network.masked[0] if network.masked else len(stages)
        self.shared = _pruned_copy(nn.Sequential(network.backbone.stem, *stages[: self.first]), [])
        tasks = list(range(len(self.task_names)))
        uses = {
            s: [stage_use(network, s, t) for t in tasks] for s in range(self.first, len(stages))
        }
        stores = {(s, i): self._store_of(uses[s], i) for s in uses for i in range(len(uses[s][0]))}
        self.opening = None
        self._before_opening: list[nn.Module] = []
        if self.first < len(stages):
            self._before_opening = _leading_modules(stages[self.first])
            self.opening = nn.Sequential(
                *(_pruned_copy(m, []) for m in self._before_opening),
                Gathered(stores[(self.first, 0)][0], None, None),
            )
        self.nodes = nn.ModuleDict()
        self.chains: list[list[str]] = [[] for _ in tasks]
        groups = [tasks]
        for s in uses:
            groups = self._split(network, s, groups)
            for g, members in enumerate(groups):
                key = f"{s}:{g}"
                self.nodes[key] = self._node(network, s, members[0], uses[s], stores)
                for t in members:
                    self.chains[t].append(key)
        self.heads = nn.ModuleDict(
            {
                name: _pruned_copy(network.heads[name], head_use(network, t))
                for t, name in enumerate(self.task_names)
            }
        )

    @staticmethod
    def _store_of(per_task: list[list[LayerUse]], i: int) -> tuple[nn.Module, nn.Module | None]:
        """Layer ``i`` of a stage (and its norm's scale and shift) kept on the union of the
        channels the tasks read and write."""
        layer, norm = per_task[0][i].layer, per_task[0][i].norm
        rows = union_mask([uses[i].write for uses in per_task])
        cols = union_mask([uses[i].read for uses in per_task])
        if norm is None:
            return _prune(layer, cols, rows), None
        keep = torch.ones(norm.num_features, dtype=torch.bool) if rows is None else rows
        scale = copy.deepcopy(norm)
        scale.weight = nn.Parameter(norm.weight.data[keep].clone())
        scale.bias = nn.Parameter(norm.bias.data[keep].clone())
        return _prune(layer, cols, rows), scale

    @staticmethod
    def _split(network: PartitionNetwork, stage: int, groups: list[list[int]]) -> list[list[int]]:
        """Each group of the stage below split by the tasks' masks and norm statistics here."""
        result = []
        for members in groups:
            by_key: dict[tuple[bytes, bytes], list[int]] = {}
            for t in members:
                mask = network.mask(stage, t) if stage in network.masked else torch.ones(1)
                key = (mask.bool().numpy().tobytes(), _statistics_key(network, stage, t))
                by_key.setdefault(key, []).append(t)
            result.extend(by_key.values())
        return result

    def _node(
        self,
        network: PartitionNetwork,
        stage: int,
        task: int,
        uses: list[list[LayerUse]],
        stores: dict[tuple[int, int], tuple[nn.Module, nn.Module | None]],
    ) -> nn.Module:
        """Stage ``stage`` on ``task``'s path: every layer gathered from its store, the first
        layer of the first masked stage a selection from the shared opening pass."""
        all_tasks = range(len(uses))
        statistics = network.task_norm_buffers(stage, task)
        replacements: dict[int, nn.Module] = {}
        for i, use in enumerate(uses[task]):
            c_in, c_out = _sizes(use.layer)
            union_rows = union_mask([uses[t][i].write for t in all_tasks])
            union_cols = union_mask([uses[t][i].read for t in all_tasks])
            rows = _positions(union_rows, use.write, c_out)
            store, scale = stores[(stage, i)]
            if stage == self.first and i == 0:
                replacements[id(use.layer)] = Select(rows)
                for module in self._before_opening:  # they ran in the opening pass
                    replacements[id(module)] = nn.Identity()
            else:
                cols = _positions(union_cols, use.read, c_in)
                replacements[id(use.layer)] = Gathered(store, rows, cols)
            if use.norm is not None and scale is not None:
                own = statistics.get(id(use.norm), {})
                write = slice(None) if use.write is None else use.write
                mean = own.get("running_mean", use.norm.running_mean)[write]
                var = own.get("running_var", use.norm.running_var)[write]
                replacements[id(use.norm)] = GatheredNorm(scale, rows, mean, var)
        pruned = copy.deepcopy(network.backbone.stages[stage], replacements)
        for sub in pruned.modules():
            sub._forward_hooks.clear()
        return pruned

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        h = self.shared(x)
        opened = self.opening(h) if self.opening is not None else h
        computed: dict[str, torch.Tensor] = {}
        outputs = {}
        for t, name in enumerate(self.task_names):
            features = opened
            for key in self.chains[t]:
                if key not in computed:
                    computed[key] = self.nodes[key](features)
                features = computed[key]
            outputs[name] = self.heads[name](features)
        return outputs
