"""Task kinds: declaration, loss, metrics, head, primary metric and direction; Δ_MTL."""

from sharenas.tasks.base import TaskHandler, create_task_handler
from sharenas.tasks.delta import delta_mtl
from sharenas.tasks.heads import Tower, make_head
from sharenas.tasks.spec import TaskKind, TaskSpec

__all__ = [
    "TaskHandler",
    "TaskKind",
    "TaskSpec",
    "Tower",
    "create_task_handler",
    "delta_mtl",
    "make_head",
]
