"""Run folders: what every run writes and reads back.

A run folder holds ``config.yaml`` (resolved), ``arch.json``, ``inputs.json`` (the task set and
its fitted preprocessing), ``best.pt`` (the delivered weights) and ``metrics.json``; a training
run also ``history.jsonl`` and ``checkpoint.pt`` (for ``--resume``). The delivered model of a
search is a run folder like any other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sharenas.cache import atomic_path, write_bytes_atomic, write_json_atomic
from sharenas.config import (
    Config,
    build_config,
    build_overridden,
    dump_config,
    load_yaml,
    paths_from_file,
    read_yaml,
)
from sharenas.engine.distributed import is_main_process
from sharenas.errors import ConfigError, SharenasError
from sharenas.run_files import (
    ARCH,
    ARCH_FORMAT,
    BEST,
    CHECKPOINT,
    CONFIG,
    HISTORY,
    INPUTS,
    LOCK,
    METRICS,
    read_record,
)
from sharenas.runs.inputs import write_inputs
from sharenas.shipped import config_file
from sharenas.spaces.base import Genotype
from sharenas.spaces.registry import genotype_problem, space_spec

if TYPE_CHECKING:
    from sharenas.data.base import TaskSetData

__all__ = ["ARCH", "ARCH_FORMAT", "BEST", "CHECKPOINT", "CONFIG", "HISTORY", "INPUTS", "METRICS"]


def refuse_reuse(folder: Path, resume: bool, checkpoint: Path | None = None) -> None:
    """Refuse, without ``resume``, a folder holding a finished run or an unfinished one."""
    folder = Path(folder)
    if resume:
        return
    if (folder / METRICS).exists():
        raise SharenasError(
            f"{folder} already holds a finished run; pass --resume to reuse it "
            "or --out to write elsewhere."
        )
    if (checkpoint or folder / CHECKPOINT).exists():
        raise SharenasError(
            f"{folder} holds a checkpoint of an unfinished run; pass --resume to "
            "continue it, or --out to start elsewhere."
        )


RUNTIME_KEYS = (  # may change between a run and its resumption (a longer run, another device)
    "train.epochs",
    "train.early_stopping",
    "train.device",
    "train.threads",
    "train.tensorboard",
    "train.eval_batch_size",
    "search.study.workers",
    "search.study.storage",
)


def _flat(raw: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {prefix: raw}
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(recorded: Path, config: Config) -> list[str]:
    """The keys whose values in ``config`` differ from the config a folder recorded."""
    try:
        old = yaml.safe_load(recorded.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{recorded}: unreadable ({exc}); the folder is damaged.") from None
    return config_changes(old, config)


def config_record(config: Config) -> dict[str, Any]:
    """The resolved config as plain data (no password), as a folder records it."""
    return yaml.safe_load(dump_config(config))  # type: ignore[no-any-return]


def config_changes(recorded: Any, config: Config) -> list[str]:
    """The keys whose values in ``config`` differ from a recorded config (plain data), leaving
    out those that may change between a run and its resumption."""
    old, new = _flat(recorded), _flat(config_record(config))
    keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    return [k for k in keys if not k.startswith(RUNTIME_KEYS)]


def check_resume(folder: Path, resume: bool, config: Config, recorded: list[Path]) -> None:
    """With ``resume``: a clear error unless ``folder`` holds a run (one of ``recorded``, its
    config file, newest layout first) started with the same config, so that nothing there is
    overwritten by another request."""
    if not resume:
        return
    folder = Path(folder)
    if not folder.is_dir():
        raise SharenasError(
            f"--resume {folder}: no such folder, so nothing to resume; drop --resume to start "
            "a new run there."
        )
    found = next((path for path in recorded if path.exists()), None)
    if found is None:
        raise SharenasError(
            f"--resume {folder}: nothing to resume there (no {recorded[0].name}); drop --resume "
            "to start a new run."
        )
    differences = config_differences(found, config)
    if differences:
        shown = ", ".join(differences[:4]) + (" …" if len(differences) > 4 else "")
        raise SharenasError(
            f"--resume {folder}: it was started with another config (different {shown}; see "
            f"{found}); resume with the same config, --arch and --set options, or pass --out "
            "for a new run."
        )


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
    problem = genotype_problem(arch)
    if problem:
        raise ConfigError(f"{path}: {problem}.")
    return arch


def _model_section(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    model = raw.setdefault("model", {})
    if not isinstance(model, dict):
        raise ConfigError(f"{path}: model must be a mapping.")
    return model


def resolve_run_config(
    path: Path, arch: str | Path | None = None, overrides: list[str] | None = None
) -> Config:
    """A config file with ``model.arch`` set from a name or an ``arch.json`` (whose model section,
    backbone included, replaces the file's), then ``--set`` overrides applied (so an override
    wins over the arch.json); ``path`` may name a shipped config."""
    path = config_file(path)
    raw = paths_from_file(read_yaml(path), path)
    if arch is not None:
        model = _model_section(raw, Path(path))
        if str(arch).endswith(".json"):
            spec = read_arch(Path(arch))
            recorded = spec.get("model", {})
            if spec.get("kind") == "genotype":  # a searched architecture
                raw["model"] = {**model, **recorded, "arch": spec["space"], "genotype": spec}
            else:
                raw["model"] = {**recorded, "arch": spec["arch"]}
        else:
            model["arch"] = str(arch)
    return build_overridden(raw, overrides, str(path))


def with_arch(config: Config, arch: str, genotype: dict[str, Any] | None = None) -> Config:
    """``config`` with ``model.arch`` (and, for a searched architecture, its genotype) replaced."""
    raw = config.model_dump(mode="json")
    raw["model"].update(arch=arch, genotype=genotype)
    return build_config(raw, source="config with another architecture")


def with_search(config: Config) -> Config:
    """``config`` with its search section, the defaults (a fusion search) when it has none."""
    if config.search is not None:
        return config
    return build_config({**config.model_dump(mode="json"), "search": {}}, source="config")


def model_record(config: Config) -> dict[str, Any]:
    """The model section an arch.json carries, so that ``train --arch`` rebuilds the same network
    (backbone, per-task backbones, towers) whatever the config's defaults."""
    return config.model.model_dump(mode="json", exclude={"arch", "genotype"})


def arch_header(config: Config, space: str, strategy: str | None = None) -> dict[str, Any]:
    """The opening of a searched architecture's arch.json: format, kind, space, the strategy
    that found it and the space settings it is built with."""
    settings = config.searched
    header: dict[str, Any] = {"format": ARCH_FORMAT, "kind": "genotype", "space": space}
    if strategy is not None:
        header["strategy"] = strategy
    header["space_config"] = space_spec(space).settings(settings).model_dump(mode="json")
    return header


def searched_arch(config: Config, genotype: Genotype, strategy: str) -> dict[str, Any]:
    """The arch.json of a searched (or drawn) point: the header and its genotype."""
    return {**arch_header(config, genotype.space, strategy), **genotype.to_dict()}


def copy_delivered(source: Path, target: Path, names: tuple[str, ...] | None = None) -> None:
    """A delivered run's files (``names``, else every file but the lock) copied into
    ``target``, each atomically; sub-folders are left out."""
    target.mkdir(parents=True, exist_ok=True)
    paths = (
        [source / n for n in names]
        if names is not None
        else [p for p in sorted(source.iterdir()) if p.is_file() and p.name != LOCK]
    )
    for path in paths:
        with atomic_path(target / path.name) as tmp:
            tmp.write_bytes(path.read_bytes())


def arch_record(config: Config) -> dict[str, Any]:
    """The run's arch.json: a searched genotype as it was, or a hand-designed architecture."""
    if config.model.genotype:
        return {**config.model.genotype, "model": model_record(config)}
    return {
        "format": ARCH_FORMAT,
        "kind": "hand-designed",
        "arch": config.model.arch,
        "model": model_record(config),
    }


def write_run_files(folder: Path, config: Config, data: TaskSetData | None = None) -> None:
    """``config.yaml``, ``arch.json`` and (given the task set) ``inputs.json`` of a run, written
    atomically; by rank 0 alone under torchrun (the folder is rank 0's)."""
    if not is_main_process():
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / CONFIG, dump_config(config).encode())
    write_json_atomic(folder / ARCH, arch_record(config))
    if data is not None:
        write_inputs(folder, data)


def load_run(run_dir: Path, dataset_needed: bool = True) -> tuple[Config, dict[str, Any]]:
    """(resolved config, metrics record) of a run folder; the record is empty while unfinished.

    The folder is received data: a module its config names (``data.module``) is imported only
    when the user allowed it (:mod:`sharenas.plugins`), else refused; without
    ``dataset_needed`` (the model rebuilt from ``inputs.json``) nothing is refused and the data
    section is kept as recorded when its dataset is not available."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SharenasError(f"{run_dir}: no such folder; give a run folder.")
    if not (run_dir / CONFIG).exists():
        raise SharenasError(f"{run_dir}: not a run folder (no config.yaml).")
    config = read_received_config(run_dir / CONFIG, dataset_needed)
    metrics_path = run_dir / METRICS
    metrics = read_record(metrics_path) if metrics_path.exists() else {}
    return config, metrics


PARTITION_DELIVERED = "model"  # a partition search's chosen point, trained: search/model
SUPERNET = "supernet"  # a one-shot search's training: search/supernet
CANDIDATES = "candidates"  # a random search's candidates: search/candidates
_SEARCH_WORK = {  # a search's folders that hold its work, not the model it delivers
    SUPERNET: "the supernet is the search's training",
    CANDIDATES: "the candidates are the random search's points",
}


def _refuse_search_work(folder: Path) -> None:
    """A clear error for a search's own work folder (``search/supernet``, ``search/candidates``)
    given where a delivered model is expected, naming the folder to give instead."""
    work = _SEARCH_WORK.get(folder.name)
    parent = folder.parent
    if not work or (folder.name == CANDIDATES and (folder / BEST).exists()):
        return  # a random search's trained point is a run of its own
    finished = (parent / CONFIG).exists()
    if parent.name != "search" and not finished:
        return
    when = "" if finished else " once the search has finished"
    raise SharenasError(
        f"{folder}: {work}, not a delivered model; give the search's delivered model, "
        f"{parent}{when}."
    )


def delivered_run(folder: Path) -> Path:
    """The run folder holding the model ``folder`` delivers: ``folder`` itself for a run (or a
    one-shot search's ``search/``); a search session's ``search/``; a partition search's
    ``search/model`` (its chosen point, trained, as the search report names it)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SharenasError(
            f"{folder}: no such folder; give a run folder, or a search's folder (or its search/)."
        )
    _refuse_search_work(folder)
    if not (folder / CONFIG).exists() and (folder / "search" / CONFIG).exists():
        folder = folder / "search"  # a search session's folder
    if (folder / BEST).exists() or not (folder / "front.json").exists():
        return folder
    chosen = folder / PARTITION_DELIVERED
    if (chosen / CONFIG).exists():
        return chosen
    raise SharenasError(
        f"{folder}: a partition search's front, whose chosen point was not trained (no "
        f"{PARTITION_DELIVERED}/); train it with `sharenas train {folder / CONFIG} --arch "
        f"{folder / ARCH}`, then use that run folder."
    )


def read_received_config(path: Path, dataset_needed: bool = True) -> Config:
    """A folder's recorded ``config.yaml``, read as received data (a module it names is not
    imported unless the user allowed it); a damaged file is named."""
    try:
        raw = load_yaml(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); the folder is damaged.") from None
    if isinstance(raw, dict) and isinstance(raw.get("data"), dict):
        raw["data"].setdefault("standardize_targets", False)  # recorded before it existed
    return build_config(raw, source=str(path), received=True, dataset_needed=dataset_needed)
