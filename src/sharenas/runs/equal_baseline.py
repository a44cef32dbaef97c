"""Which hand-designed baseline a searched or random run's network is, if any: its genotype's
canonical form (:meth:`sharenas.spaces.base.Space.canonical`) against the space's own points for
the baselines, so that ``sharenas auto`` compares networks, not names."""

from __future__ import annotations

from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.runs.training import task_handlers
from sharenas.spaces.base import space_config
from sharenas.spaces.registry import space_names, space_spec


def equal_baseline(config: Config, data: TaskSetData) -> str | None:
    """The baseline (architecture name) whose point of the run's space builds the network of
    ``config``'s genotype; None for a hand-designed run or a network no baseline builds."""
    model = config.model
    if model.arch not in space_names() or not model.genotype:
        return None
    spec = space_spec(model.arch)
    genotype = spec.genotype_class.from_dict(model.genotype)  # type: ignore[attr-defined]
    settings = space_config(spec.sections[spec.settings_key], model.genotype)
    space = spec.create(task_handlers(data), data.input_spec, model, settings)
    return space.baseline_of(genotype)
