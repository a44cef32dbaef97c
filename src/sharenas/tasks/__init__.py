"""Task kinds: declaration, loss, metrics, head, primary metric and direction; Δ_MTL. Every
module of this package is imported here, so a task kind registers itself by being here."""

import importlib
import pkgutil

from sharenas.tasks.base import TaskHandler, create_task_handler
from sharenas.tasks.delta import delta_mtl
from sharenas.tasks.heads import Tower, make_head
from sharenas.tasks.spec import TaskKind, TaskSpec

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "TaskHandler",
    "TaskKind",
    "TaskSpec",
    "Tower",
    "create_task_handler",
    "delta_mtl",
    "make_head",
]
