"""A multi-task model as a graph with positional tensor inputs and one output per task: the form
ONNX and ``torch.export`` take. The inputs are the encoded ones the network reads (a table's
standardised numeric columns and category codes, an image in [0, 1]); the outputs are the tasks'
predictions (:meth:`~sharenas.tasks.base.TaskHandler.activation`: probabilities, values, unit
normals), in task order."""

from __future__ import annotations

import torch
from torch import nn

from sharenas.data.base import Inputs, InputSpec
from sharenas.engine.domain_norms import domain
from sharenas.tasks import TaskHandler


def input_names(spec: InputSpec) -> list[str]:
    """The graph's inputs: ``image``, or the table's non-empty ``numeric`` and ``categorical``."""
    if spec.kind == "image":
        return ["image"]
    names = ["numeric"] if spec.num_numeric else []
    return names + (["categorical"] if spec.categorical_cardinalities else [])


def as_tuple(spec: InputSpec, inputs: Inputs) -> tuple[torch.Tensor, ...]:
    """The network's inputs (a tensor or a table's dict) in :func:`input_names` order."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    return tuple(inputs[name] for name in input_names(spec))


class PredictionGraph(nn.Module):
    """``forward(*inputs) -> (prediction of task 1, …)``: the model, then each task's
    activation, without dicts in the signature."""

    def __init__(self, model: nn.Module, handlers: list[TaskHandler], spec: InputSpec) -> None:
        super().__init__()
        self.model = model
        self.handlers = handlers
        self.names = input_names(spec)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = inputs[0] if self.names == ["image"] else dict(zip(self.names, inputs, strict=True))
        if hasattr(self.model, "domain_norm_modules"):  # each task through its domain's norms
            return tuple(self._in_domain(x, handler) for handler in self.handlers)
        out = self.model(x)
        return tuple(handler.activation(out[handler.name]) for handler in self.handlers)

    def _in_domain(self, x: Inputs, handler: TaskHandler) -> torch.Tensor:
        with domain(self.model, handler.name):
            return handler.activation(self.model(x)[handler.name])
