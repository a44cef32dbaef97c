"""The hard-sharing baseline of ``sharenas auto``'s room path, taken from the branching search's
measuring training instead of trained again.

That training *is* a hard-sharing training (the branching supernet shares every stage; the
affinity step only measures beside the usual update, TAG, Fifty et al., NeurIPS 2021), with the
config's epochs, and it keeps its best validation epoch's weights as a baseline run does. Its
network, as the hard-sharing point of the branching space, becomes a run folder of its own
(``config.yaml`` naming that point, ``best.pt``, ``metrics.json`` with test metrics), so the
baseline costs an evaluation, not a training (one hard-sharing training less per auto run).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from sharenas.cache import write_json_atomic
from sharenas.config import build_config, load_config
from sharenas.data.base import TaskSetData
from sharenas.engine.checkpoint import load_weights, save_checkpoint
from sharenas.engine.evaluate import evaluate
from sharenas.resources import count_parameters, flops_per_example
from sharenas.run_files import BEST, METRICS
from sharenas.runs.folder import searched_arch, with_arch, write_run_files
from sharenas.runs.lock import folder_lock
from sharenas.runs.oneshot import SUPERNET
from sharenas.runs.training import metrics_record, task_handlers
from sharenas.workflows.auto_plan import HARD_SHARING

MEASURED_BY = "the branching search's measuring training"


def measuring_training(out: Path) -> Path:
    """The folder of the room's measuring training (the full-budget branching unit's
    supernet, :data:`sharenas.workflows.auto_work.BRANCHING`)."""
    return out / "rung-1" / "branching" / "search" / SUPERNET


def can_adopt(out: Path) -> bool:
    """Whether the measuring training finished with best-epoch weights to take."""
    return (measuring_training(out) / BEST).is_file()


def adopt_hard_sharing(out: Path, folder: Path, data: TaskSetData) -> Path:
    """Write ``folder`` as the run of the measuring training's network (the hard-sharing point
    of the branching space, with its best validation epoch's weights); kept when finished."""
    if (folder / METRICS).is_file():
        return folder
    with folder_lock(folder):
        return _adopt(out, folder, data)


def _adopt(out: Path, folder: Path, data: TaskSetData) -> Path:
    began = time.perf_counter()
    source = measuring_training(out)
    searched = load_config(source / "config.yaml")
    spec = searched.searched.space_spec
    handlers = task_handlers(data)
    space = spec.create(handlers, data.input_spec, searched.model, spec.settings(searched.searched))
    supernet = load_weights(space.supernet(), source / BEST)
    genotype = space.hard_sharing()
    network = space.inherit(supernet, genotype).eval()
    arch = searched_arch(searched, genotype, str(searched.searched.strategy))
    config = with_arch(searched, spec.name, arch)
    config = build_config({**config.model_dump(mode="json"), "search": None}, source="auto")
    write_run_files(folder, config, data)
    save_checkpoint({"epoch": -1, "model": network.state_dict()}, folder / BEST)
    batch, cpu = config.train.eval_batch_size, torch.device("cpu")
    record = {
        **metrics_record(config, handlers, evaluate(network, handlers, data.test, batch, cpu)),
        "arch": HARD_SHARING,  # the network's name (config.yaml names its branching point)
        "val": evaluate(network, handlers, data.val, batch, cpu),
        "params": count_parameters(network),
        "flops_per_example": flops_per_example(network, data.val.example(2)),
        "trained_by": f"{MEASURED_BY} ({source})",
        "adopt_seconds": round(time.perf_counter() - began, 3),
    }
    write_json_atomic(folder / METRICS, record)
    return folder
