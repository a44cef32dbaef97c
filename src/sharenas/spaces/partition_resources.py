"""Resources of a partitioned network computed from its masks, and the physically pruned
single-task network that a task's masks are equivalent to (to check those numbers with
``torch.utils.flop_counter``, and to export one task's model).

FLOPs follow ``torch.utils.flop_counter``: a multiply-add counts 2, and only linear and convolution
layers count. A layer whose active input and output channels are k_in of C_in and k_out of C_out
costs F · (k_in / C_in) · (k_out / C_out), where F is its full cost. Only the first layer of a
stage reads masked inputs and only its last one writes masked outputs, so backbones whose stages
are chains are supported (mlp, cnn, encdec).

- A task's resources are those of its pruned single-task network: the shared stages, then its
  own channels through the masked stages, then its head.
- The total counts the multi-task network once. The shared stages, and the first masked stage on
  the union of the tasks' channels, run once. A later stage runs once per distinct path (tasks
  whose masks agree up to it share it). A weight is stored once if any task uses it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sharenas.errors import ConfigError
from sharenas.resources import count_parameters, flops_per_example
from sharenas.spaces.partition_network import PartitionNetwork

WEIGHTED = (nn.Linear, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def weighted_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, WEIGHTED)]


def _sizes(layer: nn.Module) -> tuple[int, int]:
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    return layer.in_channels, layer.out_channels


def check_chain_stages(network: PartitionNetwork) -> None:
    """A clear error for backbones whose stages are not chains of layers."""
    for i, stage in enumerate(network.backbone.stages):
        names = [name for name, _ in stage.named_modules()]
        if any("shortcut" in n or "downsample" in n for n in names) or any(
            getattr(m, "groups", 1) != 1 for m in weighted_layers(stage)
        ):
            raise ConfigError(
                f"stage {i} of the backbone is not a chain of layers (residual shortcut or "
                "grouped convolution); the partition space supports mlp, cnn and encdec."
            )


@dataclass
class PartitionResources:
    """FLOPs per example and parameters: each task's pruned network, and the whole."""

    per_task_flops: dict[str, int]
    per_task_params: dict[str, int]
    total_flops: int
    total_params: int


class _Channels:
    """Per task, the active channels (boolean vectors) a layer reads and writes."""

    def __init__(self, network: PartitionNetwork) -> None:
        self.network = network
        self.stages = network.backbone.stages

    def stage_output(self, stage: int, task: int) -> torch.Tensor | None:
        return self.network.mask(stage, task).bool() if stage in self.network.masked else None

    def layer_masks(
        self, stage: int, task: int
    ) -> list[tuple[nn.Module, torch.Tensor | None, torch.Tensor | None]]:
        layers = weighted_layers(self.stages[stage])
        result = []
        for i, layer in enumerate(layers):
            read = self.stage_output(stage - 1, task) if i == 0 and stage > 0 else None
            write = self.stage_output(stage, task) if i == len(layers) - 1 else None
            result.append((layer, read, write))
        return result


def _count(mask: torch.Tensor | None, full: int) -> int:
    return full if mask is None else int(mask.sum())


def _full_flops(network: PartitionNetwork, example: Any) -> dict[nn.Module, int]:
    """FLOPs per example of every linear and conv layer of the backbone and heads at full width."""
    inputs: dict[nn.Module, torch.Tensor] = {}

    def keep(module: nn.Module, args: tuple[torch.Tensor, ...], _: Any) -> None:
        inputs.setdefault(module, args[0][:1].detach())

    hooks = [
        m.register_forward_hook(keep)
        for m in [*weighted_layers(network.backbone), *weighted_layers(network.heads)]
    ]
    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            features = network.backbone(example)
            for head in network.heads.values():
                head(features)
    finally:
        network.train(was_training)
        for hook in hooks:
            hook.remove()
    return {m: flops_per_example(m, x) for m, x in inputs.items()}


def partition_resources(network: PartitionNetwork, example: Any) -> PartitionResources:
    """Per-task and total FLOPs per example and parameters, from the masks."""
    check_chain_stages(network)
    full = _full_flops(network, example)
    channels = _Channels(network)
    stages = network.backbone.stages
    first = network.masked[0] if network.masked else len(stages)
    tasks = network.task_names

    def flops(layer: nn.Module, read: torch.Tensor | None, write: torch.Tensor | None) -> float:
        c_in, c_out = _sizes(layer)
        return full[layer] * _count(read, c_in) / c_in * _count(write, c_out) / c_out

    def params(layer: nn.Module, read: torch.Tensor | None, write: torch.Tensor | None) -> int:
        c_in, c_out = _sizes(layer)
        per_pair = layer.weight.numel() // (c_in * c_out)
        bias = 0 if layer.bias is None else _count(write, c_out)
        return _count(read, c_in) * _count(write, c_out) * per_pair + bias

    def norm_params(stage: int, write: torch.Tensor | None) -> int:
        norms = [m for m in stages[stage].modules() if isinstance(m, NORMS)]
        total = sum(count_parameters(n) for n in norms[:-1])
        return total + (2 * _count(write, norms[-1].num_features) if norms else 0)

    shared_flops = sum(full[m] for m in weighted_layers(network.backbone.stem))
    shared_flops += sum(full[m] for s in range(first) for m in weighted_layers(stages[s]))
    shared_params = count_parameters(network.backbone.stem) + sum(
        count_parameters(stages[s]) for s in range(first)
    )
    per_task_flops, per_task_params = {}, {}
    later_flops = 0.0  # stages after the first masked one (once per distinct path) and heads
    computed: set[tuple[int, bytes]] = set()
    for t, name in enumerate(tasks):
        own_flops, own_params = 0.0, 0
        for s in range(first, len(stages)):
            masks = channels.layer_masks(s, t)
            own_flops += sum(flops(*m) for m in masks)
            own_params += sum(params(*m) for m in masks) + norm_params(s, masks[-1][2])
            # tasks whose masks agree on stages first..s compute stage s once, together
            path = b"".join(
                channels.stage_output(k, t).numpy().tobytes()
                for k in range(first, s + 1)
                if k in network.masked
            )
            if s > first and (s, path) not in computed:
                computed.add((s, path))
                later_flops += sum(flops(*m) for m in masks)
        last = channels.stage_output(len(stages) - 1, t)
        head = network.heads[name]
        for i, layer in enumerate(weighted_layers(head)):
            read = last if i == 0 else None
            own_flops += flops(layer, read, None)
            own_params += params(layer, read, None)
            later_flops += flops(layer, read, None)
        own_params += sum(count_parameters(m) for m in head.modules() if isinstance(m, NORMS))
        per_task_flops[name] = round(shared_flops + own_flops)
        per_task_params[name] = shared_params + own_params

    # the first masked stage runs once, writing the union of the tasks' channels
    union = torch.stack([network.mask(first, t).bool() for t in range(len(tasks))]).any(0)
    first_layers = weighted_layers(stages[first]) if first < len(stages) else []
    first_flops = sum(
        flops(layer, None, union if i == len(first_layers) - 1 else None)
        for i, layer in enumerate(first_layers)
    )
    total_params = shared_params + _union_params(network, channels, first)
    return PartitionResources(
        per_task_flops,
        per_task_params,
        round(shared_flops + first_flops + later_flops),
        total_params,
    )


def _union_params(network: PartitionNetwork, channels: _Channels, first: int) -> int:
    """Parameters from the first masked stage on, each weight counted once if any task uses it."""
    tasks = range(len(network.task_names))
    total = 0
    for s in range(first, len(network.backbone.stages)):
        per_task = [channels.layer_masks(s, t) for t in tasks]
        for i, layer in enumerate(weighted_layers(network.backbone.stages[s])):
            c_in, c_out = _sizes(layer)
            used = torch.zeros(c_out, c_in, dtype=torch.bool)
            for masks in per_task:
                _, read, write = masks[i]
                rows = write if write is not None else torch.ones(c_out, dtype=torch.bool)
                cols = read if read is not None else torch.ones(c_in, dtype=torch.bool)
                used |= rows[:, None] & cols[None, :]
            total += int(used.sum()) * (layer.weight.numel() // (c_in * c_out))
            if layer.bias is not None:
                total += int(used.any(1).sum())
        norms = [m for m in network.backbone.stages[s].modules() if isinstance(m, NORMS)]
        if norms:
            everything = torch.ones(norms[-1].num_features, dtype=torch.bool)
            written = [m[-1][2] if m[-1][2] is not None else everything for m in per_task]
            total += sum(count_parameters(n) for n in norms[:-1])
            total += 2 * int(torch.stack(written).any(0).sum())
    total += count_parameters(network.heads)
    for t, name in enumerate(network.task_names):
        last = channels.stage_output(len(network.backbone.stages) - 1, t)
        layer = weighted_layers(network.heads[name])[0]
        if last is not None:
            c_in, c_out = _sizes(layer)
            total -= (c_in - int(last.sum())) * c_out * (layer.weight.numel() // (c_in * c_out))
    return total


def _prune(layer: nn.Module, read: torch.Tensor | None, write: torch.Tensor | None) -> nn.Module:
    """A copy of ``layer`` keeping only the ``read`` input and ``write`` output channels."""
    pruned = copy.deepcopy(layer)
    weight = pruned.weight.data
    if write is not None:
        weight = weight[write]
        if pruned.bias is not None:
            pruned.bias = nn.Parameter(pruned.bias.data[write])
    if read is not None:
        weight = weight[:, read]
    pruned.weight = nn.Parameter(weight.clone())
    if isinstance(pruned, nn.Linear):
        pruned.in_features, pruned.out_features = weight.shape[1], weight.shape[0]
    else:
        pruned.in_channels, pruned.out_channels = weight.shape[1], weight.shape[0]
    return pruned


def _prune_norm(norm: nn.Module, write: torch.Tensor) -> nn.Module:
    pruned = copy.deepcopy(norm)
    pruned.num_features = int(write.sum())
    pruned.weight = nn.Parameter(norm.weight.data[write].clone())
    pruned.bias = nn.Parameter(norm.bias.data[write].clone())
    pruned.running_mean = norm.running_mean[write].clone()
    pruned.running_var = norm.running_var[write].clone()
    return pruned


def _replace(root: nn.Module, old: nn.Module, new: nn.Module) -> None:
    for name, child in root.named_children():
        if child is old:
            setattr(root, name, new)
            return
        _replace(child, old, new)


class PrunedTaskNetwork(nn.Module):
    """One task's network with the channels outside its masks physically removed."""

    def __init__(self, network: PartitionNetwork, task: str) -> None:
        super().__init__()
        check_chain_stages(network)
        t = network.task_names.index(task)
        channels = _Channels(network)
        self.task = task
        self.stem = copy.deepcopy(network.backbone.stem)
        stages = []
        for s, stage in enumerate(network.backbone.stages):
            pruned = copy.deepcopy(stage)
            masks = channels.layer_masks(s, t)
            originals = weighted_layers(stage)
            copies = weighted_layers(pruned)
            for (_, read, write), copy_ in zip(masks, copies, strict=True):
                _replace(pruned, copy_, _prune(copy_, read, write))
            write = masks[-1][2] if masks else None
            norms = [m for m in pruned.modules() if isinstance(m, NORMS)]
            if write is not None and norms:
                _replace(pruned, norms[-1], _prune_norm(norms[-1], write))
            del originals
            stages.append(pruned)
        self.stages = nn.ModuleList(stages)
        head = copy.deepcopy(network.heads[task])
        last = channels.stage_output(len(stages) - 1, t)
        if last is not None:
            layer = weighted_layers(head)[0]
            _replace(head, layer, _prune(layer, last, None))
        self.head = head

    def forward(self, x: Any) -> torch.Tensor:
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
        return self.head(h)
