"""The partitioned network of the partition space (Feature Partitioning, Newell et al., 2019).

One backbone. Stages before the first masked stage are shared. From the first masked stage on,
every task runs its own pass. Inside a masked stage, each layer's output channels outside the
task's mask are zeroed (after the layer's batch norm, when it has one). A task therefore reads,
and its loss trains, only the channels it uses. Each task has its head.

Batch norms inside masked stages keep running statistics per task: each task's pass sees its
own inputs (its channels of the stage below, or its own images in a multi-domain set), so one
shared running mean would match no task at evaluation. Scale and shift stay shared per channel.

With gradient masks (the paper's backward masks), a task's pass through a masked stage uses the
stage's parameters with their gradient stopped on the output channels outside the task's
gradient mask (the layer's weight rows and bias, and its norm's scale and shift): the values
are unchanged, the gradient to the layers below is unchanged, and the task's loss updates only
the parameters producing the channels in its gradient mask.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from sharenas.backbones import Backbone
from sharenas.errors import ConfigError
from sharenas.tasks import TaskHandler, Tower, make_head

WEIGHTED = (nn.Linear, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def mask_points(stage: nn.Module) -> list[tuple[nn.Module, nn.Module | None]]:
    """Per linear/conv layer of ``stage``: (the layer, the norm right after it or None)."""
    modules = [m for m in stage.modules() if not list(m.children())]
    points = []
    for i, module in enumerate(modules):
        if isinstance(module, WEIGHTED):
            after = modules[i + 1] if i + 1 < len(modules) else None
            points.append((module, after if isinstance(after, NORMS) else None))
    return points


def _owned_tensors(stage: nn.Module, modules: set[int], parameters: bool) -> dict[str, Any]:
    """Name (within ``stage``) → tensor of the direct parameters (or buffers) of ``modules``
    (given by ``id``)."""
    tensors = {}
    for module_name, module in stage.named_modules():
        if id(module) not in modules:
            continue
        own = module.named_parameters if parameters else module.named_buffers
        for name, tensor in own(recurse=False):
            if tensor is not None:
                tensors[f"{module_name}.{name}" if module_name else name] = tensor
    return tensors


def _channel_parameters(stage: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters indexed by output channel in their first dimension: each masked layer's
    weight and bias and its norm's scale and shift."""
    owners = {id(m) for pair in mask_points(stage) for m in pair if m is not None}
    return _owned_tensors(stage, owners, parameters=True)


def _norm_statistics(stage: nn.Module) -> dict[str, torch.Tensor]:
    """The running-statistics buffers of the stage's norms."""
    norms = {id(norm) for _, norm in mask_points(stage) if norm is not None}
    return _owned_tensors(stage, norms, parameters=False)


def _width(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def _check_masks(
    backbone: Backbone,
    tasks: int,
    masks: dict[int, torch.Tensor],
    gradient_masks: dict[int, torch.Tensor],
) -> None:
    """Clear errors for a mask of a missing stage, of the wrong shape, over layers of other
    widths, or a gradient mask outside its forward mask."""
    stages = len(backbone.stages)
    for stage, mask in masks.items():
        if not 0 <= stage < stages:
            raise ConfigError(
                f"masked stage {stage} does not exist; the backbone has stages 0..{stages - 1}."
            )
        channels = backbone.stage_specs[stage].channels
        if tuple(mask.shape) != (tasks, channels):
            raise ConfigError(
                f"the mask of stage {stage} has shape {tuple(mask.shape)}; expected "
                f"({tasks} tasks, {channels} channels)."
            )
        widths = {_width(layer) for layer, _ in mask_points(backbone.stages[stage])}
        if widths != {channels}:
            raise ConfigError(
                f"stage {stage}'s layers have widths {sorted(widths)}; a masked stage needs "
                f"every layer {channels} wide."
            )
        gradient = gradient_masks.get(stage)
        if gradient is not None and (
            gradient.shape != mask.shape or bool((gradient.bool() & ~mask.bool()).any())
        ):
            raise ConfigError(
                f"the gradient mask of stage {stage} must have the forward mask's shape "
                f"{tuple(mask.shape)} and lie inside it: a task trains only channels it reads."
            )
    unknown = sorted(set(gradient_masks) - set(masks))
    if unknown:
        raise ConfigError(f"gradient masks for stages {unknown}, which are not masked.")


class PartitionNetwork(nn.Module):
    def __init__(
        self,
        tasks: list[TaskHandler],
        backbone: Backbone,
        masks: dict[int, torch.Tensor],
        tower: Tower = Tower(),
        gradient_masks: dict[int, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        gradient_masks = gradient_masks or {}
        self.task_names = [t.name for t in tasks]
        self.backbone = backbone
        _check_masks(backbone, len(tasks), masks, gradient_masks)
        self.masked = sorted(masks)
        for stage in self.masked:
            self.register_buffer(f"mask{stage}", masks[stage].to(torch.float32))
        self.gradient_masked = sorted(gradient_masks)
        for stage in self.gradient_masked:
            self.register_buffer(f"gradient_mask{stage}", gradient_masks[stage].to(torch.bool))
        # per gradient-masked stage: its per-channel parameters by name within the stage
        self._channel_parameters = {
            stage: _channel_parameters(backbone.stages[stage]) for stage in self.gradient_masked
        }
        self._statistics = {
            stage: self._task_statistics(stage, len(tasks)) for stage in self.masked
        }
        self.heads = nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec, t.out_channels(), backbone.feature_shape(), backbone.input_size, tower
                )
                for t in tasks
            }
        )
        self._task: int | None = None  # the task whose pass runs now (None: no masking)
        self.active_tasks: list[str] | None = None  # see sharenas.engine.task_subset
        for stage in self.masked:
            for layer, norm in mask_points(backbone.stages[stage]):
                (norm or layer).register_forward_hook(self._hook(stage))

    def _task_statistics(self, stage: int, tasks: int) -> list[tuple[str, str]]:
        """Register a per-task copy of the running statistics of masked ``stage``'s norms; the
        (buffer name within the stage, per-task buffer name) pairs."""
        pairs = []
        statistics = _norm_statistics(self.backbone.stages[stage])
        for i, (name, buffer) in enumerate(statistics.items()):
            own = f"task_statistics{stage}_{i}"
            copies = buffer.detach().unsqueeze(0).repeat_interleave(tasks, 0).clone()
            self.register_buffer(own, copies)
            pairs.append((name, own))
        return pairs

    def _hook(self, stage: int) -> Any:
        def apply(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor | None:
            if self._task is None:
                return None
            return self._masked(output, self.mask(stage, self._task))

        return apply

    def mask(self, stage: int, task: int) -> torch.Tensor:
        return getattr(self, f"mask{stage}")[task]

    def gradient_mask(self, stage: int, task: int) -> torch.Tensor:
        """The channels of ``stage`` whose parameters ``task``'s loss trains."""
        if stage in self.gradient_masked:
            return getattr(self, f"gradient_mask{stage}")[task]
        return self.mask(stage, task).bool()

    @staticmethod
    def _masked(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (features.dim() - 2)
        return features * mask.reshape(shape)

    def task_statistics(self, stage: int, task: int) -> dict[str, torch.Tensor]:
        """``task``'s running statistics of the norms of masked ``stage``, by buffer name within
        the stage (views: a training pass updates them in place)."""
        return {name: getattr(self, own)[task] for name, own in self._statistics.get(stage, [])}

    def task_norm_buffers(self, stage: int, task: int) -> dict[int, dict[str, torch.Tensor]]:
        """``task``'s running statistics of masked ``stage``, keyed by ``id`` of the norm."""
        statistics = self.task_statistics(stage, task)
        buffers: dict[int, dict[str, torch.Tensor]] = {}
        for module_name, module in self.backbone.stages[stage].named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, _ in module.named_buffers(recurse=False):
                if prefix + name in statistics:
                    buffers.setdefault(id(module), {})[name] = statistics[prefix + name]
        return buffers

    def _stage_pass(self, index: int, task: int, h: torch.Tensor) -> torch.Tensor:
        stage = self.backbone.stages[index]
        substitutes = self.task_statistics(index, task)
        if index in self.gradient_masked and torch.is_grad_enabled():
            keep = self.gradient_mask(index, task)
            for name, value in self._channel_parameters[index].items():
                rows = keep.reshape((-1,) + (1,) * (value.dim() - 1))
                substitutes[name] = torch.where(rows, value, value.detach())
        return functional_call(stage, substitutes, (h,)) if substitutes else stage(h)

    def task_features(self, shared: torch.Tensor, task: int, start: int) -> torch.Tensor:
        """Task ``task``'s pass through stages ``start``.. from ``shared`` features."""
        self._task = task
        try:
            h = shared
            for index in range(start, len(self.backbone.stages)):
                h = self._stage_pass(index, task, h)
            return h
        finally:
            self._task = None

    def deployed(self) -> nn.Module:
        """The delivered network: physically pruned, coinciding paths sharing their passes
        (:class:`~sharenas.spaces.partition_deployed.DeployedPartitionNetwork`)."""
        from sharenas.spaces.partition_deployed import DeployedPartitionNetwork

        return DeployedPartitionNetwork(self).eval()

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        stages = self.backbone.stages
        h = self.backbone.stem(x)
        first = self.masked[0] if self.masked else len(stages)
        for stage in stages[:first]:
            h = stage(h)
        active = self.active_tasks or self.task_names
        return {
            name: self.heads[name](self.task_features(h, t, first))
            for t, name in enumerate(self.task_names)
            if name in active
        }
