"""Running only the tasks a batch has targets for.

In a multi-domain task set each batch holds one task's own images (Visual Decathlon style).
A model whose tasks have their own branches (single-task's backbones, a partitioned network's
per-task passes) then computes only that task's branch: the other branches would get no
gradient anyway, and their batch-norm running statistics would be updated with another
domain's images, so that at evaluation they match no domain (a teacher of colour-inverted
digits stayed at chance that way). A model opts in by having an ``active_tasks`` attribute
(None: all tasks) that its ``forward`` honours. A batch of one task on a model with
domain-specific batch norms (:mod:`sharenas.engine.domain_norms`) uses that domain's norms.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager

from torch import nn

from sharenas.engine.domain_norms import domain


@contextmanager
def only_tasks(model: nn.Module, tasks: Iterable[str]) -> Iterator[None]:
    """Within the block, ``model`` (or the module a DDP wrapper holds) computes ``tasks`` only,
    when it supports that."""
    target = getattr(model, "module", model)
    tasks = list(tasks)
    with ExitStack() as stack:
        if len(tasks) == 1:
            stack.enter_context(domain(target, tasks[0]))
        if hasattr(target, "active_tasks"):
            previous = target.active_tasks
            target.active_tasks = tasks
            stack.callback(setattr, target, "active_tasks", previous)
        yield
