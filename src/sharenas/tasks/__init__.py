"""Task kinds: declaration, loss, metrics, head, primary metric and direction; Δ_MTL. Every
module of this package is imported here, so a task kind registers itself by being here."""

from sharenas.registration import import_members
from sharenas.tasks.base import TaskHandler, create_task_handler
from sharenas.tasks.delta import delta_mtl
from sharenas.tasks.heads import Tower, make_head
from sharenas.tasks.spec import TaskKind, TaskSpec

import_members(__name__, __path__)

__all__ = [
    "TaskHandler",
    "TaskKind",
    "TaskSpec",
    "Tower",
    "create_task_handler",
    "delta_mtl",
    "make_head",
]
