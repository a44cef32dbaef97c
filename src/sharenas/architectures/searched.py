"""A searched architecture: the genotype of a search's ``arch.json`` (or one point of a partition
front), built by its space and trained from scratch (``sharenas train --arch search/arch.json``,
or a search's ``derive: retrain``). Every registered space's name is such an architecture."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from sharenas.errors import ConfigError
from sharenas.spaces.base import space_config
from sharenas.spaces.registry import space_spec

if TYPE_CHECKING:
    from sharenas.architectures.config import ModelConfig
    from sharenas.data.base import InputSpec
    from sharenas.tasks import TaskHandler


def build_searched(
    space: str, tasks: list[TaskHandler], input_spec: InputSpec, config: ModelConfig
) -> nn.Module:
    """``model.genotype`` (a ``space`` search's arch.json) built by its space with the space
    settings it records; a clear error when there is none."""
    if not config.genotype:
        raise ConfigError(
            f"architecture {space!r} needs model.genotype: pass a {space} search's "
            "arch.json with --arch."
        )
    spec = space_spec(space)
    genotype = spec.genotype_class.from_dict(config.genotype)  # type: ignore[attr-defined]
    settings = space_config(spec.sections[spec.settings_key], config.genotype)
    return spec.create(tasks, input_spec, config, settings).build(genotype)
