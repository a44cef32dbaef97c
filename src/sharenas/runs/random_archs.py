"""Random architectures of the searched space: the yardstick every search is compared with.

The NAS literature's first check (Li & Talwalkar 2019, "Random search and reproducibility for
NAS"; Sciuto et al. 2019, "Evaluating the search phase of NAS") is whether a search beats
architectures drawn at random from its own space. ``search.baselines: [random]`` draws
``search.random_architectures`` points uniformly (the random strategy's draws, seeded by the
config's seed) and trains each from scratch with the baselines' data, seed and budget, into
``baselines/random/<k>/``; the report shows them, their mean ± std and the best by validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sharenas.cache import write_json_atomic
from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.runs.folder import CHECKPOINT, METRICS, searched_arch, with_arch
from sharenas.runs.records import RANDOM_SUFFIX
from sharenas.runs.training import task_handlers, train
from sharenas.search.random_points import RandomStrategy
from sharenas.spaces.base import Genotype

RANDOM = RandomStrategy.name


def random_genotypes(config: Config, data: TaskSetData) -> list[Genotype]:
    """``search.random_architectures`` points of the searched space, drawn uniformly (among
    those within ``search.max_flops``) with a generator seeded by the config's seed (the same
    draws every time)."""
    settings = config.searched
    spec = settings.space_spec
    space = spec.create(task_handlers(data), data.input_spec, config.model, spec.settings(settings))
    generator = torch.Generator().manual_seed(10_007 * config.seed + 1)
    example = data.val.example(2)
    return RandomStrategy().draw(
        space, generator, settings.max_flops, example, settings.random_architectures
    )


def random_arch_record(config: Config, genotype: Genotype) -> dict[str, Any]:
    """The arch.json of a random point: its genotype and the space settings."""
    return searched_arch(config, genotype, RANDOM)


def train_random(config: Config, folder: Path, data: TaskSetData, progress: bool) -> list[Path]:
    """Each random architecture trained from scratch in ``folder/<k>`` (finished ones kept,
    unfinished ones resumed); returns the run folders."""
    space = config.searched.space
    genotypes = random_genotypes(config, data)
    runs = []
    for k, genotype in enumerate(genotypes):
        run_dir = folder / str(k)
        if not (run_dir / METRICS).exists():
            record = train(
                with_arch(config, space, random_arch_record(config, genotype)),
                run_dir,
                resume=(run_dir / CHECKPOINT).exists(),
                data=data,
                progress=progress,
                label=f"random architecture {k + 1}/{len(genotypes)}",
            )
            write_json_atomic(run_dir / METRICS, {**record, "arch": f"{space} {RANDOM_SUFFIX}"})
        runs.append(run_dir)
    return runs
