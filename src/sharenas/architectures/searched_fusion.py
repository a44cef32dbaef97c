"""A searched fusion architecture: the genotype of a fusion search's ``arch.json``, trained from
scratch (``sharenas train --arch search/arch.json``, or ``sharenas search --retrain``)."""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.architectures.base import searched_genotype
from sharenas.spaces.fusion import FusionGenotype, FusionNetwork, FusionSpaceConfig, fusion_space


@register_architecture("fusion")
def searched_fusion(tasks, input_spec, config) -> FusionNetwork:  # type: ignore[no-untyped-def]
    parsed, settings = searched_genotype(config, "fusion", FusionGenotype, FusionSpaceConfig)
    return fusion_space(tasks, input_spec, config, settings).build(parsed)
