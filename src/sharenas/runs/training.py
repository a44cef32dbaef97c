"""Training runs: the Python API behind ``sharenas train`` and ``sharenas evaluate``.

A run folder holds ``config.yaml`` (resolved), ``arch.json``, ``history.jsonl``,
``checkpoint.pt`` (last epoch, for ``--resume``), ``best.pt`` (best validation weights) and
``metrics.json``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharenas.architectures import MultiTaskModel, build_architecture
from sharenas.backbones.pretrained import weights_skipped
from sharenas.cache import write_json_atomic
from sharenas.config import Config, check_task_names
from sharenas.data import create_dataset
from sharenas.data.base import InputSpec, TaskSetData
from sharenas.data.partial_labels import check_labels
from sharenas.data.standardize import standardize_targets
from sharenas.engine.checkpoint import load_weights
from sharenas.engine.distributed import resolve_device
from sharenas.engine.domain_norms import add_domain_norms
from sharenas.engine.evaluate import evaluate, primary_metrics
from sharenas.engine.head_bias import set_prior_biases
from sharenas.engine.progress import working
from sharenas.engine.step import TrainingStep
from sharenas.engine.trainer import Trainer, TrainOutcome
from sharenas.errors import ConfigError, SharenasError
from sharenas.run_files import read_record
from sharenas.runs.folder import (
    BEST,
    CHECKPOINT,
    CONFIG,
    METRICS,
    check_resume,
    delivered_run,
    load_run,
    refuse_reuse,
    write_run_files,
)
from sharenas.runs.lock import folder_lock
from sharenas.runs.out_folder import check_folder, data_inputs
from sharenas.runs.smoke import default_folder, replace_smoke_run, smoke_config
from sharenas.tasks import TaskHandler, create_task_handler, delta_mtl
from sharenas.tasks.spec import TaskSpec

log = logging.getLogger(__name__)


def task_handlers(data: TaskSetData) -> list[TaskHandler]:
    """One handler (loss, metrics, outputs) per task of ``data``, in its order."""
    return [create_task_handler(spec) for spec in data.tasks]


def build_model(config: Config, data: TaskSetData) -> tuple[MultiTaskModel, list[TaskHandler]]:
    """``config``'s architecture for ``data`` (fresh weights, seeded by ``config.seed``)."""
    model, handlers = build_network(config, data.tasks, data.input_spec, data.shape)
    start_heads(model, config, handlers, data)
    return model, handlers


def build_network(
    config: Config, tasks: list[TaskSpec], input_spec: InputSpec, shape: str
) -> tuple[MultiTaskModel, list[TaskHandler]]:
    """``config``'s architecture for these tasks and inputs (fresh weights, seeded by
    ``config.seed``), without the data: what a run's ``inputs.json`` is enough for."""
    handlers = [create_task_handler(spec) for spec in tasks]
    torch.manual_seed(config.seed)
    try:
        model = build_architecture(config.model.arch, handlers, input_spec, config.model)
    except ValueError as exc:  # a backbone refusing the input kind
        raise ConfigError(f"model.backbone: {exc}") from None
    if config.train.domain_norms and shape == "multi-domain":
        add_domain_norms(model, [t.name for t in tasks])
    return model, handlers


def start_heads(
    model: nn.Module, config: Config, handlers: list[TaskHandler], data: TaskSetData
) -> nn.Module:
    """``model`` with its heads' output biases at the training prior when the config asks."""
    if config.model.head_bias == "prior":
        set_prior_biases(model, handlers, data.train)
    return model


def default_run_dir(config: Config, smoke: bool = False) -> Path:
    """A training run's default folder: ``runs/<dataset>-<arch>-s<seed>`` (smoke: under
    ``runs/smoke/``)."""
    return default_folder(config, config.model.arch, smoke)


def reference_primary(reference: Path | None, tasks: list[str]) -> dict[str, float] | None:
    """The single-task reference's primary metric of every task in ``tasks`` (Δ_MTL, Eq. 1 of
    Maninis et al. 2019), read and checked before anything trains: a reference of another task
    set, or one without primary metrics, is refused here, not after the training."""
    if reference is None:
        return None
    path = Path(reference) / METRICS
    if not path.exists():
        raise ConfigError(
            f"--reference {reference}: no metrics.json there; give a finished "
            "single-task run folder."
        )
    primary = read_record(path).get("primary")
    if not isinstance(primary, dict):
        raise ConfigError(
            f"--reference {path}: no primary metrics recorded; give the folder of a finished "
            "single-task run of this task set."
        )
    missing = [t for t in tasks if not _finite(primary.get(t))]
    if missing:
        raise ConfigError(
            f"--reference {path}: no primary metric for task(s) {', '.join(missing)} (it holds "
            f"{', '.join(map(str, primary)) or 'none'}); give a single-task run of the same task "
            "set."
        )
    return {t: float(primary[t]) for t in tasks}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _loading_words(name: str, generated: bool) -> str:
    """What the data phase is doing: a generated set is generated from its seed, any other one
    loaded (fetched and built on first use, then cached)."""
    if generated:
        return f"generating {name} (from its seed)"
    return f"loading {name} (fetched and built on first use, then cached)"


def load_data(config: Config, data: TaskSetData | None, progress: bool = True) -> TaskSetData:
    """The config's task set, or ``data`` cut to the config's ``data.limit``; every run that
    trains (train, search, auto) gets its task set here, so the config keys naming tasks are
    checked against it here. ``progress``: the loading spinner (a worker process has none)."""
    if data is None:
        began, builder = time.perf_counter(), create_dataset(config.data)
        with working(_loading_words(config.data.name, builder.generated), progress):
            loaded = builder.load()
        sizes = ", ".join(f"{split} {n:,}" for split, n in loaded.sizes().items())
        log.info("%s ready: %s rows (%.1fs)", config.data.name, sizes, time.perf_counter() - began)
        check_task_names(config, [t.name for t in loaded.tasks])
        return loaded
    check_task_names(config, [t.name for t in data.tasks])
    if config.data.limit is not None:
        data.splits = {k: v.take(config.data.limit) for k, v in data.splits.items()}
    check_labels(data)  # a task set given in Python: data.drop_labels was its maker's to apply
    if config.data.standardize_targets and not any(t.target_std for t in data.tasks):
        standardize_targets(data)
    return data


def metrics_record(
    config: Config,
    handlers: list[TaskHandler],
    test: dict[str, dict[str, float]],
    single: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The fields every metrics.json starts with: dataset, arch, seed, test metrics, Δ_MTL."""
    primary = primary_metrics(test, handlers)
    directions = {h.name: h.higher_is_better for h in handlers}
    return {
        "dataset": config.data.name,
        "arch": config.model.arch,
        "seed": config.seed,
        "tasks": test,
        "primary": primary,
        "primary_metric": {h.name: h.primary for h in handlers},
        "higher_is_better": directions,
        "delta_mtl": delta_mtl(primary, single, directions) if single else None,
    }


def outcome_record(outcome: TrainOutcome, trainer: Trainer) -> dict[str, Any]:
    """What a training's record holds of its outcome: validation metrics, best epoch, epochs
    run, the model's resources, training seconds and device."""
    return {
        "val": outcome.val,
        "best_epoch": outcome.best_epoch,
        "epochs_run": outcome.epochs_run,
        **trainer.resources(),
        "train_seconds": round(outcome.train_seconds, 3),
        "device": str(trainer.device),
    }


def train(
    config: Config,
    out: Path | None = None,
    *,
    resume: bool = False,
    smoke: bool = False,
    reference: Path | None = None,
    progress: bool = True,
    data: TaskSetData | None = None,
    callbacks: list[Any] | None = None,
    model: nn.Module | None = None,
    label: str | None = None,
    step: TrainingStep | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """Train ``config``'s architecture (or ``model``, e.g. a derived network carrying inherited
    weights) and write a run folder; returns the metrics record. ``step``: the training step
    when it is not plain training (one that also measures, such as task affinity). ``until``:
    pause after that many epochs (a successive-halving rung: no metrics.json, and ``{"paused":
    True, "epochs_run": …}`` returned); resuming the folder finishes the run."""
    if smoke:
        config = smoke_config(config)
    run_dir = Path(out) if out is not None else default_run_dir(config, smoke)
    if smoke and not resume:
        replace_smoke_run(run_dir, "run")  # the same smoke command can run again
    check_folder(run_dir, "run", data_inputs(config))  # a new, empty or run folder only
    check_resume(run_dir, resume, config, [run_dir / CONFIG])
    with folder_lock(run_dir):
        refuse_reuse(run_dir, resume)
        return _train_locked(
            config, run_dir, resume, smoke, reference, progress, data, callbacks, model, label,
            step, until,
        )  # fmt: skip


def ensure_trained(config: Config, folder: Path, **options: Any) -> Path:
    """``folder``'s run, trained unless it finished (its metrics.json exists), resumed when it
    was interrupted (its checkpoint exists); ``options`` go to :func:`train`."""
    folder = Path(folder)
    if not (folder / METRICS).exists():
        train(config, folder, resume=(folder / CHECKPOINT).exists(), **options)
    return folder


def _train_locked(
    config: Config,
    run_dir: Path,
    resume: bool,
    smoke: bool,
    reference: Path | None,
    progress: bool,
    data: TaskSetData | None,
    callbacks: list[Any] | None,
    model: nn.Module | None,
    label: str | None,
    step: TrainingStep | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """:func:`train` once the folder is locked: the request is validated (data, model,
    reference) before anything is written."""
    began = time.perf_counter()
    data = load_data(config, data)
    built, handlers = build_model(config, data)
    single = reference_primary(reference, [t.name for t in data.tasks])
    write_run_files(run_dir, config, data)
    trainer = Trainer(
        model if model is not None else built,
        handlers,
        data,
        config.train,
        run_dir,
        seed=config.seed,
        progress=progress,
        callbacks=callbacks,
        label=label or config.model.arch,
        step=step,
    )
    outcome = trainer.fit(resume=resume, until=until)
    if outcome.paused:
        return {"paused": True, "epochs_run": outcome.epochs_run}
    assert outcome.test is not None
    record = {
        **metrics_record(config, handlers, outcome.test, single),
        **outcome_record(outcome, trainer),
        "wall_seconds": round(time.perf_counter() - began, 3),
        "smoke": smoke,
    }
    if trainer.rank == 0:
        write_json_atomic(run_dir / METRICS, record)
    if trainer.world > 1:  # torchrun: every rank returns once rank 0 has written metrics.json
        torch.distributed.barrier()
    return record


def evaluate_run(run_dir: Path, split: str = "test") -> dict[str, dict[str, float]]:
    """Recompute a run's metrics on ``split`` from its delivered weights (``best.pt``); a
    search's folder stands for the run it delivers (:func:`delivered_run`)."""
    run_dir = delivered_run(run_dir)
    config, _ = load_run(run_dir)  # config.yaml is the resolved config (smoke limits included)
    weights = Path(run_dir) / BEST
    if not weights.exists():
        raise SharenasError(f"{run_dir}: no {BEST}; the run has not finished an epoch.")
    data = create_dataset(config.data).load()
    with weights_skipped():  # best.pt holds them: no pretrained download or file read
        model, handlers = build_model(config, data)
    device = resolve_device(config.train.device)
    load_weights(model, weights, device, f"retrain the run, or restore {BEST} from its source")
    model.to(device)
    return evaluate(
        model,
        handlers,
        data.splits[split],
        config.train.eval_batch_size,
        device,
        config.train.amp and device.type == "cuda",
    )
