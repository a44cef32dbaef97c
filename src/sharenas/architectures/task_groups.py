"""Task grouping (Standley et al., "Which Tasks Should Be Learned Together in Multi-task
Learning?", ICML 2020; TAG, Fifty et al., NeurIPS 2021): one network per group of tasks, nothing
shared across groups (``model.groups``). On a task set with planted groups (``synthetic-groups``)
it is the oracle: one branch per group.

It is the branching space's tree that branches at the input, so it is built by
:class:`~sharenas.spaces.branching.BranchingSpace`.
"""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.errors import ConfigError
from sharenas.spaces.branching import BranchingNetwork, BranchingSpaceConfig, branching_space


@register_architecture("task-groups")
def task_groups(tasks, input_spec, config) -> BranchingNetwork:  # type: ignore[no-untyped-def]
    if not config.groups:
        names = ", ".join(t.name for t in tasks)
        raise ConfigError(
            "architecture 'task-groups' needs model.groups, a list of task groups naming each "
            f"task once (tasks: {names}), e.g. --set 'model.groups=[[a, b], [c]]'."
        )
    space = branching_space(tasks, input_spec, config, BranchingSpaceConfig())
    return space.build(space.grouping(config.groups))
