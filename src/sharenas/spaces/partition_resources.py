"""Resources of a partitioned network computed from its masks, and the physically pruned
single-task network that a task's masks are equivalent to (to check those numbers with
``torch.utils.flop_counter``, and to export one task's model).

FLOPs follow ``torch.utils.flop_counter``: a multiply-add counts 2, and only linear and convolution
layers count. A layer whose active input and output channels are k_in of C_in and k_out of C_out
costs F · (k_in / C_in) · (k_out / C_out), where F is its full cost. In a masked stage every
layer writes the task's channels; the first layer of the stage after a masked stage reads them.
Backbones whose stages are chains of layers are supported (mlp, cnn, encdec).

- A task's resources are those of its pruned single-task network: the shared stages, then its
  channels through the masked stages, then its head.
- The total counts the multi-task network once, as it is delivered
  (:class:`~sharenas.spaces.partition_deployed.DeployedPartitionNetwork`). The shared stages,
  and the first layer of the first masked stage (on the union of the tasks' channels), run once.
  Later layers run once per distinct path: tasks whose masks agree up to a stage share it. A
  layer is stored once, on the rows any task writes by the columns any task reads.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sharenas.errors import ConfigError
from sharenas.resources import count_parameters, flops_per_example
from sharenas.spaces.partition_network import WEIGHTED, PartitionNetwork, mask_points

Mask = torch.Tensor | None  # active channels (booleans); None: all


def weighted_layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, WEIGHTED)]


def _sizes(layer: nn.Module) -> tuple[int, int]:
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    return layer.in_channels, layer.out_channels


def _count(mask: Mask, full: int) -> int:
    return full if mask is None else int(mask.sum())


# residual blocks of torchvision and timm (BasicBlock, Bottleneck, InvertedResidual, …)
RESIDUAL_BLOCKS = ("Block", "Bottleneck", "Residual")


def check_chain_backbone(backbone: nn.Module) -> None:
    """A clear error for backbones whose stages are not chains of layers."""
    for i, stage in enumerate(backbone.stages):  # type: ignore[arg-type]
        names = [name for name, _ in stage.named_modules()]
        # an identity shortcut has no module: the libraries' residual blocks, known by name
        blocks = [
            type(m).__name__
            for m in stage.modules()
            if type(m).__module__.startswith(("timm.", "torchvision."))
        ]
        if (
            any("shortcut" in n or "downsample" in n for n in names)
            or any(b.endswith(RESIDUAL_BLOCKS) for b in blocks)
            or any(getattr(m, "groups", 1) != 1 for m in weighted_layers(stage))
        ):
            raise ConfigError(
                f"model.backbone: stage {i} of {backbone.describe()} is not a chain of layers "
                "(residual shortcut or grouped convolution); the partition space supports mlp, "
                "cnn, encdec and the VGG networks of timm and torchvision (model: vgg11_bn …)."
            )


def check_chain_stages(network: PartitionNetwork) -> None:
    """A clear error for partitioned networks whose stages are not chains of layers."""
    check_chain_backbone(network.backbone)


@dataclass
class PartitionResources:
    """FLOPs per example and parameters: each task's pruned network, and the whole."""

    per_task_flops: dict[str, int]
    per_task_params: dict[str, int]
    total_flops: int
    total_params: int


@dataclass
class LayerUse:
    """One layer of a stage, with the channels a task reads and writes."""

    layer: nn.Module
    norm: nn.Module | None
    read: Mask
    write: Mask


def stage_use(network: PartitionNetwork, stage: int, task: int) -> list[LayerUse]:
    """The layers of ``stage`` with ``task``'s read and write channels."""

    def output(s: int) -> Mask:
        return network.mask(s, task).bool() if s in network.masked else None

    previous = output(stage - 1) if stage > 0 else None
    uses = []
    for layer, norm in mask_points(network.backbone.stages[stage]):
        write = output(stage)
        uses.append(LayerUse(layer, norm, previous, write))
        previous = write
    return uses


def head_use(network: PartitionNetwork, task: int) -> list[LayerUse]:
    name = network.task_names[task]
    last = len(network.backbone.stages) - 1
    read: Mask = network.mask(last, task).bool() if last in network.masked else None
    return [
        LayerUse(layer, norm, read if i == 0 else None, None)
        for i, (layer, norm) in enumerate(mask_points(network.heads[name]))
    ]


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
    stages = network.backbone.stages
    first = network.masked[0] if network.masked else len(stages)
    tasks = range(len(network.task_names))

    def flops(use: LayerUse) -> float:
        c_in, c_out = _sizes(use.layer)
        return full[use.layer] * _count(use.read, c_in) / c_in * _count(use.write, c_out) / c_out

    def params(use: LayerUse) -> int:
        c_in, c_out = _sizes(use.layer)
        per_pair = use.layer.weight.numel() // (c_in * c_out)
        count = _count(use.read, c_in) * _count(use.write, c_out) * per_pair
        count += 0 if use.layer.bias is None else _count(use.write, c_out)
        return count + (0 if use.norm is None else 2 * _count(use.write, c_out))

    shared_flops = sum(full[m] for m in weighted_layers(network.backbone.stem))
    shared_flops += sum(full[m] for s in range(first) for m in weighted_layers(stages[s]))
    shared_params = count_parameters(network.backbone.stem) + sum(
        count_parameters(stages[s]) for s in range(first)
    )
    per_task_flops, per_task_params = {}, {}
    total_flops = float(shared_flops)
    counted: set[tuple[int, int, bytes]] = set()
    for t in tasks:
        own_flops, own_params = 0.0, 0
        for s in range(first, len(stages)):
            path = b"".join(
                network.mask(k, t).bool().numpy().tobytes()
                for k in range(first, s + 1)
                if k in network.masked
            )
            for i, use in enumerate(stage_use(network, s, t)):
                own_flops += flops(use)
                own_params += params(use)
                if s == first and i == 0:
                    continue  # reads the shared features: counted once below, on the union
                if (s, i, path) not in counted:
                    counted.add((s, i, path))
                    total_flops += flops(use)
        for use in head_use(network, t):
            own_flops += flops(use)
            own_params += params(use)
            total_flops += flops(use)
        name = network.task_names[t]
        per_task_flops[name] = round(shared_flops + own_flops)
        per_task_params[name] = shared_params + own_params
    if first < len(stages):
        union = torch.stack([stage_use(network, first, t)[0].write for t in tasks]).any(0)
        opening = stage_use(network, first, 0)[0]
        total_flops += flops(LayerUse(opening.layer, opening.norm, None, union))
    return PartitionResources(
        per_task_flops,
        per_task_params,
        round(total_flops),
        shared_params + _union_params(network, first),
    )


def _union_params(network: PartitionNetwork, first: int) -> int:
    """Parameters from the first masked stage on, as the delivered network stores them
    (:mod:`~sharenas.spaces.partition_deployed`): each layer once, on the rows any task writes
    by the columns any task reads; each task's head on its own channels."""
    tasks = range(len(network.task_names))
    total = 0
    layer_lists = [
        [stage_use(network, s, t) for t in tasks]
        for s in range(first, len(network.backbone.stages))
    ] + [[head_use(network, t)] for t in tasks]
    for per_task in layer_lists:
        for i, use in enumerate(per_task[0]):
            c_in, c_out = _sizes(use.layer)
            rows = _union_count([uses[i].write for uses in per_task], c_out)
            cols = _union_count([uses[i].read for uses in per_task], c_in)
            total += rows * cols * (use.layer.weight.numel() // (c_in * c_out))
            total += 0 if use.layer.bias is None else rows
            total += 0 if use.norm is None else 2 * rows
    return total


def union_mask(masks: list[Mask]) -> Mask:
    """The channels any of ``masks`` holds (None: all)."""
    if any(m is None for m in masks):
        return None
    return torch.stack(masks).any(0)  # type: ignore[arg-type]


def _union_count(masks: list[Mask], full: int) -> int:
    return _count(union_mask(masks), full)


def _prune(layer: nn.Module, read: Mask, write: Mask) -> nn.Module:
    """A copy of ``layer`` keeping only the ``read`` input and ``write`` output channels."""
    pruned = copy.deepcopy(layer)
    weight = pruned.weight.data
    if write is not None:
        weight = weight[write]
        if pruned.bias is not None:
            pruned.bias = nn.Parameter(pruned.bias.data[write].clone())
    if read is not None:
        weight = weight[:, read]
    pruned.weight = nn.Parameter(weight.clone())
    if isinstance(pruned, nn.Linear):
        pruned.in_features, pruned.out_features = weight.shape[1], weight.shape[0]
    else:
        pruned.in_channels, pruned.out_channels = weight.shape[1], weight.shape[0]
    return pruned


def _prune_norm(
    norm: nn.Module, write: torch.Tensor, statistics: dict[str, torch.Tensor]
) -> nn.Module:
    """``norm`` kept on the ``write`` channels, with the task's running ``statistics``."""
    pruned = copy.deepcopy(norm)
    pruned.num_features = int(write.sum())
    pruned.weight = nn.Parameter(norm.weight.data[write].clone())
    pruned.bias = nn.Parameter(norm.bias.data[write].clone())
    pruned.running_mean = statistics.get("running_mean", norm.running_mean)[write].clone()
    pruned.running_var = statistics.get("running_var", norm.running_var)[write].clone()
    return pruned


def _pruned_copy(
    module: nn.Module,
    uses: list[LayerUse],
    statistics: dict[int, dict[str, torch.Tensor]] | None = None,
) -> nn.Module:
    """A copy of ``module`` with every listed layer (and its norm, with the task's running
    ``statistics`` keyed by ``id`` of the norm) pruned."""
    replacements: dict[int, nn.Module] = {}
    for use in uses:
        replacements[id(use.layer)] = _prune(use.layer, use.read, use.write)
        if use.norm is not None and use.write is not None:
            own = (statistics or {}).get(id(use.norm), {})
            replacements[id(use.norm)] = _prune_norm(use.norm, use.write, own)
    memo = {key: value for key, value in replacements.items()}
    pruned = copy.deepcopy(module, memo)
    for sub in pruned.modules():
        sub._forward_hooks.clear()  # the masking hooks belong to the partitioned network
    return pruned


class PrunedTaskNetwork(nn.Module):
    """One task's network with the channels outside its masks physically removed."""

    def __init__(self, network: PartitionNetwork, task: str) -> None:
        super().__init__()
        check_chain_stages(network)
        t = network.task_names.index(task)
        self.task = task
        self.stem = _pruned_copy(network.backbone.stem, [])
        self.stages = nn.ModuleList(
            _pruned_copy(stage, stage_use(network, s, t), network.task_norm_buffers(s, t))
            for s, stage in enumerate(network.backbone.stages)
        )
        self.head = _pruned_copy(network.heads[task], head_use(network, t))

    def forward(self, x: Any) -> torch.Tensor:
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
        return self.head(h)
