"""A searched fusion architecture: the genotype of a fusion search's ``arch.json``, trained from
scratch (``sharenas train --arch search/arch.json``, or ``sharenas search --retrain``)."""

from __future__ import annotations

from sharenas.architectures.base import fusion_space, register_architecture, space_config
from sharenas.errors import ConfigError
from sharenas.spaces.fusion import FusionGenotype, FusionNetwork, FusionSpaceConfig


@register_architecture("fusion")
def searched_fusion(tasks, input_spec, config) -> FusionNetwork:  # type: ignore[no-untyped-def]
    genotype = config.genotype
    if not genotype:
        raise ConfigError(
            "architecture 'fusion' needs model.genotype: pass a fusion search's "
            "arch.json with --arch."
        )
    parsed = FusionGenotype.from_dict(genotype)
    space = fusion_space(tasks, input_spec, config, space_config(FusionSpaceConfig, genotype))
    return space.build(parsed)
