"""Training runs: the Python API behind ``sharenas train``, ``evaluate`` and the run folder.

A run folder holds ``config.yaml`` (resolved), ``arch.json``, ``history.jsonl``,
``checkpoint.pt`` (last epoch, for ``--resume``), ``best.pt`` (best validation weights) and
``metrics.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from sharenas.architectures import build_architecture
from sharenas.architectures.base import MultiTaskModel
from sharenas.cache import write_bytes_atomic, write_json_atomic
from sharenas.config import Config, apply_overrides, build_config, dump_config, read_yaml
from sharenas.data import create_dataset
from sharenas.data.base import TaskSetData
from sharenas.engine.checkpoint import load_checkpoint
from sharenas.engine.distributed import resolve_device
from sharenas.engine.evaluate import evaluate, primary_metrics
from sharenas.engine.trainer import BEST, CHECKPOINT, Trainer
from sharenas.errors import ConfigError, SharenasError
from sharenas.tasks import TaskHandler, create_task_handler, delta_mtl

ARCH_FORMAT = "sharenas-arch/1"
SMOKE = {"train.epochs": 2, "train.max_batches": 2, "data.limit": 128}


def smoke_config(config: Config) -> Config:
    """The same run shrunk to seconds: 2 epochs of 2 batches on 128 rows per split (a partition
    search: 4 partitions, 5 distillation steps each)."""
    raw = config.model_dump(mode="json")
    train = raw["train"]
    overrides = [f"{k}={v}" for k, v in SMOKE.items()]
    overrides += [
        f"train.batch_size={min(train['batch_size'], 64)}",
        f"train.eval_batch_size={min(train['eval_batch_size'], 128)}",
        "train.early_stopping=null",
    ]
    search = raw.get("search") or {}
    if search.get("space") == "partition":  # a handful of partitions, each scored in seconds
        study, evaluation = search["study"], search["evaluation"]
        overrides += [
            f"search.study.trials={min(study['trials'], 4)}",
            f"search.study.population={min(study['population'], 2)}",
            f"search.study.es_directions={min(study['es_directions'], 1)}",
            f"search.evaluation.distill_steps={min(evaluation['distill_steps'], 5)}",
        ]
    return build_config(apply_overrides(raw, overrides), source="smoke config")


def read_arch(path: Path) -> dict[str, Any]:
    """An ``arch.json``; a clear error when it is not one sharenas wrote."""
    try:
        arch = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable arch.json ({exc}).") from None
    if (
        not isinstance(arch, dict)
        or arch.get("format") != ARCH_FORMAT
        or ("arch" not in arch and arch.get("kind") != "genotype")
    ):
        raise ConfigError(
            f"{path}: not a sharenas arch.json (expected format {ARCH_FORMAT!r} "
            "with an 'arch' key); pass an architecture name or a run's arch.json."
        )
    return arch


def resolve_run_config(
    path: Path, arch: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """A config file with ``model.arch`` set from a name or an ``arch.json``, then ``--set``
    overrides applied (so an override wins over the arch.json)."""
    raw = read_yaml(Path(path))
    if arch is not None:
        model = raw.setdefault("model", {})
        if not isinstance(model, dict):
            raise ConfigError(f"{path}: model must be a mapping.")
        if str(arch).endswith(".json"):
            spec = read_arch(Path(arch))
            if spec.get("kind") == "genotype":  # a searched architecture
                model.update(arch=spec["space"], genotype=spec)
            else:
                raw["model"] = {**spec.get("model", {}), "arch": spec["arch"]}
        else:
            model["arch"] = str(arch)
    return build_config(apply_overrides(raw, overrides), source=str(path))


def with_arch(config: Config, arch: str, genotype: dict[str, Any] | None = None) -> Config:
    """``config`` with ``model.arch`` (and, for a searched architecture, its genotype) replaced."""
    raw = config.model_dump(mode="json")
    raw["model"].update(arch=arch, genotype=genotype)
    return build_config(raw, source="config with another architecture")


def task_handlers(data: TaskSetData) -> list[TaskHandler]:
    return [create_task_handler(spec) for spec in data.tasks]


def build_model(config: Config, data: TaskSetData) -> tuple[MultiTaskModel, list[TaskHandler]]:
    handlers = task_handlers(data)
    torch.manual_seed(config.seed)
    try:
        model = build_architecture(config.model.arch, handlers, data.input_spec, config.model)
    except ValueError as exc:  # a backbone refusing the input kind
        raise ConfigError(f"model.backbone: {exc}") from None
    return model, handlers


def default_run_dir(config: Config) -> Path:
    return Path("runs") / f"{config.data.name}-{config.model.arch}-s{config.seed}"


def arch_record(config: Config) -> dict[str, Any]:
    """The run's arch.json: a searched genotype as it was, or a hand-designed architecture."""
    if config.model.genotype:
        return config.model.genotype
    return {
        "format": ARCH_FORMAT,
        "kind": "hand-designed",
        "arch": config.model.arch,
        "model": config.model.model_dump(mode="json", exclude={"arch"}),
    }


def reference_primary(reference: Path | None) -> dict[str, float] | None:
    if reference is None:
        return None
    path = Path(reference) / "metrics.json"
    if not path.exists():
        raise ConfigError(
            f"--reference {reference}: no metrics.json there; give a finished "
            "single-task run folder."
        )
    return json.loads(path.read_text())["primary"]


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
) -> dict[str, Any]:
    """Train ``config``'s architecture and write a run folder; returns the metrics record."""
    if smoke:
        config = smoke_config(config)
    run_dir = Path(out) if out is not None else default_run_dir(config)
    if (run_dir / "metrics.json").exists() and not resume:
        raise SharenasError(
            f"{run_dir} already holds a finished run; pass --resume to reuse it "
            "or --out to write elsewhere."
        )
    if (run_dir / CHECKPOINT).exists() and not resume:
        raise SharenasError(
            f"{run_dir} holds a checkpoint of an unfinished run; pass --resume to "
            "continue it, or --out to start elsewhere."
        )
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    began = time.perf_counter()
    if data is None:
        data = create_dataset(config.data).load()
    elif config.data.limit is not None:  # a task set passed in obeys the config's limit too
        data.splits = {k: v.take(config.data.limit) for k, v in data.splits.items()}
    model, handlers = build_model(config, data)
    single = reference_primary(reference)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(run_dir / "config.yaml", dump_config(config).encode())
    write_json_atomic(run_dir / "arch.json", arch_record(config))
    trainer = Trainer(
        model,
        handlers,
        data,
        config.train,
        run_dir,
        seed=config.seed,
        progress=progress,
        callbacks=callbacks,
    )
    outcome = trainer.fit(resume=resume)
    primary = primary_metrics(outcome.test, handlers)
    directions = {h.name: h.higher_is_better for h in handlers}
    record = {
        "dataset": config.data.name,
        "arch": config.model.arch,
        "seed": config.seed,
        "tasks": outcome.test,
        "primary": primary,
        "primary_metric": {h.name: h.primary for h in handlers},
        "higher_is_better": directions,
        "delta_mtl": delta_mtl(primary, single, directions) if single else None,
        "val": outcome.val,
        "best_epoch": outcome.best_epoch,
        "epochs_run": outcome.epochs_run,
        **trainer.resources(),
        "train_seconds": round(outcome.train_seconds, 3),
        "wall_seconds": round(time.perf_counter() - began, 3),
        "device": str(trainer.device),
        "smoke": smoke,
    }
    if trainer.rank == 0:
        write_json_atomic(run_dir / "metrics.json", record)
    return record


def load_run(run_dir: Path) -> tuple[Config, dict[str, Any]]:
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        raise SharenasError(f"{run_dir}: not a run folder (no config.yaml).")
    config = build_config(yaml.safe_load(config_path.read_text()), source=str(config_path))
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    return config, metrics


def evaluate_run(run_dir: Path, split: str = "test") -> dict[str, dict[str, float]]:
    """Recompute a run's metrics on ``split`` from its best checkpoint."""
    config, _ = load_run(run_dir)  # config.yaml is the resolved config (smoke limits included)
    weights = Path(run_dir) / BEST
    if not weights.exists():
        raise SharenasError(f"{run_dir}: no {BEST}; the run has not finished an epoch.")
    data = create_dataset(config.data).load()
    model, handlers = build_model(config, data)
    device = resolve_device(config.train.device)
    model.load_state_dict(load_checkpoint(weights, device)["model"])
    model.to(device)
    return evaluate(
        model,
        handlers,
        data.splits[split],
        config.train.eval_batch_size,
        device,
        config.train.amp and device.type == "cuda",
    )
