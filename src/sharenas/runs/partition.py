"""A partition search run: workers evaluate partitions in one Optuna study, then the Pareto
front, the reference points and the pictures are written to the search folder.

The folder holds ``config.yaml``, the study (``study.db`` for one worker, ``study.journal`` for
several, unless ``--storage`` points elsewhere),
``trials/<n>/`` (each evaluation's files), ``trials.json``, ``front.json``, ``front/<n>.json``
(each front point as an arch.json for ``sharenas train --arch``), ``arch.json`` (the front point
with the best mean score relative to single-task) and ``metrics.json``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from sharenas.cache import file_lock, write_bytes_atomic, write_json_atomic
from sharenas.config import Config, dump_config
from sharenas.data import create_dataset
from sharenas.data.base import TaskSetData
from sharenas.errors import ConfigError
from sharenas.plugins import allowance
from sharenas.run_files import METRICS, read_record
from sharenas.runs.folder import arch_header, model_record
from sharenas.runs.partition_eval import (
    check_reference,
    create_evaluator,
    load_teachers,
    reference_folder,
    reference_label,
    teacher_folder,
)
from sharenas.runs.training import task_handlers
from sharenas.search.partition_study import RetryKilledTrial, dump_trials, open_study
from sharenas.search.registry import create_strategy
from sharenas.search.storage import (
    PASSWORD_ENV,
    absolute,
    journal_url,
    open_storage,
    password,
    shown,
    study_exists,
)
from sharenas.search.strategy import TrialStrategy
from sharenas.search.study_loop import StudySearch, run_study
from sharenas.spaces.partition import PartitionSpace, partition_space
from sharenas.spaces.partition_resources import partition_resources

log = logging.getLogger(__name__)


def study_settings(config: Config, out: Path) -> tuple[str, str]:
    """(storage URL, study name) of ``config``'s search in ``out``: ``search.study.storage`` (a
    SQLite or journal file made absolute), else the study file already in ``out``, else SQLite
    for one worker and a journal file for several (Optuna advises against SQLite for parallel
    workers)."""
    study = config.searched.study
    name = study.name or f"{config.data.name}-partition-s{config.seed}"
    given = study.storage
    return (absolute(given) if given else default_storage(Path(out), study.workers)), name


def recorded_storage(out: Path) -> str | None:
    """The storage the search in ``out`` was started with, as its config.yaml records it
    (without its password), when one was given. Only named in messages: a storage is never
    taken from a folder's file, which could send the password in the environment to a
    database that the file names."""
    try:
        raw = yaml.safe_load((Path(out) / "config.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    for key in ("search", "study", "storage"):
        raw = raw.get(key) if isinstance(raw, dict) else None
    return raw if isinstance(raw, str) and raw else None


def with_storage(config: Config) -> Config:
    """``config`` with its storage's file, when a relative one was given, made absolute:
    config.yaml then records it for the workers and for a worker started elsewhere."""
    study = config.searched.study
    if not study.storage or absolute(study.storage) == study.storage:
        return config
    search = config.searched.model_copy(
        update={"study": study.model_copy(update={"storage": absolute(study.storage)})}
    )
    return config.model_copy(update={"search": search})


def default_storage(out: Path, workers: int) -> str:
    database, journal = (out / "study.db").resolve(), out / "study.journal"
    if journal.exists() or (workers > 1 and not database.exists()):
        return journal_url(journal)
    return f"sqlite:///{database}"


def existing_study(url: str, name: str) -> bool:
    """Whether the storage at ``url`` holds study ``name`` (found without writing anything to
    it); a ConfigError when the storage cannot serve the study."""
    return study_exists(url, name)


def warn_sqlite_workers(config: Config, url: str) -> None:
    workers = config.searched.study.workers
    if url.startswith("sqlite") and workers > 1:
        log.warning(
            "search.study.storage is SQLite with %d workers: SQLite locks the whole file, so "
            "workers wait on each other (and Optuna advises against it); leave the storage unset "
            "for a journal file on this host, or give a PostgreSQL URL for several hosts",
            workers,
        )


def _space(config: Config, data: TaskSetData) -> PartitionSpace:
    return partition_space(
        task_handlers(data), data.input_spec, config.model, config.searched.partition
    )


def _signature(config: Config, space: PartitionSpace, directions: list[str]) -> dict[str, Any]:
    return {
        "space": space.name,
        "space_config": config.searched.partition.model_dump(mode="json"),
        "backbone": config.model.backbone.model_dump(mode="json"),
        "tasks": list(space.task_names),
        "objectives": [
            *(f"{t}:{d}" for t, d in zip(space.task_names, directions, strict=False)),
            "flops:minimize",
        ],
        "evaluation": _evaluation(config),
        "strategy": config.searched.strategy,
        **_queued(config),
    }


def _evaluation(config: Config) -> dict[str, Any]:
    """``search.evaluation``; a reference left unset is absent, as in the signatures of
    studies started before the setting (which must still resume)."""
    evaluation = config.searched.evaluation
    unset = {"reference"} if evaluation.reference is None else None
    return evaluation.model_dump(mode="json", exclude=unset)


def _queued(config: Config) -> dict[str, Any]:
    """The partitions queued first where they are not the two corners (a resumed study must
    queue what it started with; absent otherwise, as in studies started before groupings)."""
    study = config.searched.study
    if not study.groupings and study.share_all:
        return {}
    return {"queued": {"share_all": study.share_all, "groupings": study.groupings}}


def _flops_of(space: PartitionSpace, data: TaskSetData, vector: list[float]) -> int:
    network = space.build(space.genotype_from_vector(vector))
    return partition_resources(network, data.val.example(2)).total_flops


def _join_study(
    config: Config,
    out: Path,
    space: PartitionSpace,
    directions: list[str],
    sampler: Any,
    share_all_flops: int,
) -> Any:
    """Open (or create) the study; the first worker enqueues the reference partitions.

    One process here at a time creates the tables and the study; on a shared database, Optuna
    loads a study another machine created, and copies of the queued references are told apart
    by their key (partition_study.holders)."""

    settings = config.searched.study
    url, name = study_settings(config, out)
    references = space.reference_vectors(settings.groupings, settings.share_all)
    with file_lock(Path(out) / ".study.lock"):
        storage = open_storage(url, settings.heartbeat, RetryKilledTrial())
        signature = _signature(config, space, directions)
        study = open_study(storage, name, [*directions, "minimize"], signature, sampler)
        if not study.user_attrs.get("references_enqueued"):
            for label, vector in references.items():
                study.enqueue_trial(
                    {f"v{i}": v for i, v in enumerate(vector)}, user_attrs={"reference": label}
                )
            study.set_user_attr("references_enqueued", True)
            study.set_user_attr("share_all_flops", share_all_flops)
    import optuna

    optuna.storages.fail_stale_trials(study)
    return study


def settle_killed(config: Config, url: str, name: str) -> None:
    """On --resume: fail the killed search's trials (when its study exists)."""
    import optuna

    heartbeat = config.searched.study.heartbeat
    if not existing_study(url, name):  # killed before the study was created: nothing to open
        return
    study = optuna.load_study(
        study_name=name, storage=open_storage(url, heartbeat, RetryKilledTrial())
    )
    settle(study, heartbeat)


def settle(study: Any, interval: int) -> None:
    """Fail the trials of killed workers before going on: a trial still RUNNING is waited for
    until its heartbeat is stale (3 intervals), so that a resumed study queues the killed
    trial again first, in the order an uninterrupted one would have evaluated it."""
    import optuna
    from optuna.trial import TrialState

    deadline = time.monotonic() + 3 * interval + 2
    while time.monotonic() < deadline:
        optuna.storages.fail_stale_trials(study)
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return
        time.sleep(0.5)


def _study_seed(config: Config) -> int:
    settings = config.searched.study
    return settings.seed if settings.seed is not None else config.seed


def _sampler(config: Config, index: int, position: int = 0) -> Any:
    """The strategy's sampler, seeded by the study seed, the worker's ``index`` (workers draw
    different points) and the trial's ``position`` (a resumed study draws what an
    uninterrupted one would)."""
    seed = (_study_seed(config) * 1000 + index) * 100_003 + position
    return _strategy(config).sampler(seed, config.searched.study)


def _strategy(config: Config) -> TrialStrategy:
    strategy = create_strategy(str(config.searched.strategy))
    assert isinstance(strategy, TrialStrategy)  # the space spec admits trial strategies only
    return strategy


def worker(config: Config, out: Path, data: TaskSetData | None = None, index: int = 0) -> None:
    """Evaluate partitions until the study holds ``search.study.trials`` of them; ``index``
    tells workers apart (each samples its own points)."""
    data = data if data is not None else create_dataset(config.data).load()
    space, out = _space(config, data), Path(out)
    handlers = task_handlers(data)
    directions = ["maximize" if h.higher_is_better else "minimize" for h in handlers]
    share_all = _flops_of(space, data, space.reference_vectors()["share-all"])
    study = _join_study(config, out, space, directions, _sampler(config, index), share_all)
    search = StudySearch(
        study,
        space,
        _strategy(config),
        create_evaluator(config, data, space, config.searched.evaluation),
        config.searched.study,
        [h.name for h in handlers],
        lambda vector: _flops_of(space, data, vector),
        share_all,
        config.searched.max_flops,
        out,
    )
    sampler = lambda n: _sampler(config, index, n)  # noqa: E731
    run_study(search, sampler, directions, _study_seed(config))
    dump_trials(study, out / "trials.json")


def worker_environment(config: Config, out: Path) -> dict[str, str]:
    """The workers' environment: the storage password is passed through it (config.yaml keeps
    the URL without it, and a command line is visible to every user), and so is the allowance
    of the search config's own module (a worker never imports a module because the folder's
    config.yaml names it)."""
    env = dict(os.environ)
    secret = password(config.searched.study.storage)
    if secret:
        env[PASSWORD_ENV] = secret
    env.update(allowance([config.data.module]))
    return env


def check_storage(config: Config, out: Path, resume: bool = False) -> tuple[str, str]:
    """(storage URL, study name) of the search in ``out``, checked before data loading and
    teacher training, writing nothing (no file, no table): a storage that cannot serve the
    study (a wrong URL or password, a database of the user's own) is refused, and so is a new
    search whose study the storage already holds, or a resumed one whose study is elsewhere."""
    out = Path(out)
    url, name = study_settings(config, out)
    own = url == default_storage(out, config.searched.study.workers)  # a file in ``out``
    exists = (out.is_dir() or not own) and existing_study(url, name)
    if not resume and ((exists and own) or (out / "config.yaml").exists()):
        raise ConfigError(
            f"{out} holds a partition study; pass --resume to continue it, or --out to start "
            "elsewhere."
        )
    if not resume and exists:
        raise ConfigError(
            f"search.study.storage={shown(url)!r} (--storage) already holds study {name!r}: "
            "pass --resume with the --out of the search that started it to continue it, "
            "--study NAME to start another study there, or add workers to that search with "
            "python -m sharenas.runs.partition_worker SEARCH_FOLDER INDEX (docs/scale-out.md)."
        )
    if resume and not exists and any((out / "trials").glob("*")):
        recorded = recorded_storage(out)
        started = f"--storage {shown(recorded)!r}" if recorded else "the folder's own study file"
        raise ConfigError(
            f"--resume {out}: search.study.storage={shown(url)!r} (--storage) holds no study "
            f"{name!r}, but the folder holds evaluated trials; resume with the storage that "
            f"started the search ({started}, per its config.yaml), or pass --out to start a new "
            "search."
        )
    return url, name


def check_budget(config: Config, data: TaskSetData, space: PartitionSpace) -> None:
    """A clear error when no partition can meet ``search.max_flops``."""
    budget = config.searched.max_flops
    if budget is None:
        return
    share_all = _flops_of(space, data, space.reference_vectors()["share-all"])
    smallest = _flops_of(space, data, [0.0] * space.vector_size)  # 1 channel each, none shared
    if smallest > budget:
        raise ConfigError(
            f"search.max_flops={budget:.4g}: no partition can meet it; the smallest (every task "
            f"one channel) costs {smallest:.4g} FLOPs per example ({smallest / share_all:.3f} "
            "of share-all's). Raise the budget, or mask more stages (search.partition.stages)."
        )


def run_partition_search(
    config: Config, out: Path, resume: bool = False, data: TaskSetData | None = None
) -> dict[str, Any]:
    """Train the teachers (distill), run the workers, then write the front and the pictures."""
    import optuna

    out = Path(out)
    url, name = check_storage(config, out, resume)
    warn_sqlite_workers(config, url)
    config = with_storage(config)
    data = data if data is not None else create_dataset(config.data).load()
    space = _space(config, data)
    settings = config.searched.study
    space.reference_vectors(settings.groupings, settings.share_all)  # a clear error, early
    check_reference(config, task_handlers(data))
    check_budget(config, data, space)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "config.yaml", dump_config(config).encode())
    if resume:  # the trials of the killed search fail (and are queued again) before any other
        settle_killed(config, url, name)
    began = time.perf_counter()
    if reference_folder(config) == teacher_folder(config):
        load_teachers(config, data)  # trained once, before the workers need them
    workers = config.searched.study.workers
    if workers == 1:
        worker(config, out, data)
    else:  # separate processes, each joining the study through the storage
        command = [sys.executable, "-m", "sharenas.runs.partition_worker", str(out)]
        env = worker_environment(config, out)
        processes = [subprocess.Popen([*command, str(i)], env=env) for i in range(workers)]
        failed = [code for code in (p.wait() for p in processes) if code != 0]
        if failed:
            raise ConfigError(
                f"{len(failed)} of {workers} partition workers failed (exit codes {failed}); "
                "see their messages above, then rerun with --resume."
            )
    seconds = time.perf_counter() - began
    storage = open_storage(url, config.searched.study.heartbeat, RetryKilledTrial())
    study = optuna.load_study(study_name=name, storage=storage)
    return summarise(config, out, study, data, seconds)


def _single_task(config: Config, handlers: list[Any]) -> dict[str, Any]:
    """The reference: the single-task teachers' (or ``search.evaluation.reference``'s)
    validation metrics and FLOPs."""
    teacher = read_record(reference_folder(config) / METRICS)
    return {
        "label": reference_label(config),
        "primary": {h.name: teacher["val"][h.name][h.primary] for h in handlers},
        "total_flops": teacher["flops_per_example"],
    }


def _points(study: Any) -> list[dict[str, Any]]:
    """Every evaluated partition: its scores, FLOPs, genotype and whether it is on the front."""
    from optuna.trial import TrialState

    front = {t.number for t in study.best_trials}
    points = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state != TrialState.COMPLETE:
            continue
        evaluation = trial.user_attrs["evaluation"]
        points.append(
            {
                "number": trial.number,
                "label": trial.user_attrs.get("reference", ""),
                "primary": evaluation["primary"],
                "total_flops": evaluation["total_flops"],
                "per_task_flops": evaluation["per_task_flops"],
                "front": trial.number in front,
                "genotype": trial.user_attrs["genotype"],
            }
        )
    return points


def relative_score(
    point: dict[str, Any], single: dict[str, Any], directions: dict[str, bool]
) -> float:
    """Mean signed relative change of ``point``'s scores against single-task's."""
    terms = []
    for task, higher in directions.items():
        ref, value = single["primary"][task], point["primary"][task]
        terms.append((1.0 if higher else -1.0) * (value - ref) / (abs(ref) + 1e-12))
    return sum(terms) / len(terms)


def _write_front(
    config: Config, out: Path, front: list[dict[str, Any]], chosen: dict[str, Any] | None
) -> None:
    """Each front point as an arch.json in ``front/``; the chosen one as ``arch.json``."""
    (out / "front").mkdir(exist_ok=True)
    base = {**arch_header(config, PartitionSpace.name), "model": model_record(config)}
    for point in front:
        write_json_atomic(out / "front" / f"{point['number']}.json", {**base, **point["genotype"]})
    if chosen is not None:
        write_json_atomic(out / "arch.json", {**base, **chosen["genotype"]})


def _within_budget(points: list[dict[str, Any]], config: Config) -> list[dict[str, Any]]:
    """The points the budget allows to be chosen (the reference partitions, evaluated whatever
    the budget, may be over it)."""
    limit = config.searched.max_flops
    return [p for p in points if limit is None or p["total_flops"] <= limit]


def summarise(
    config: Config, out: Path, study: Any, data: TaskSetData, seconds: float
) -> dict[str, Any]:
    """The front, the reference points and the files of the search folder."""
    handlers = task_handlers(data)
    directions = {h.name: h.higher_is_better for h in handlers}
    single = _single_task(config, handlers)
    points = _points(study)
    front = sorted((p for p in points if p["front"]), key=lambda p: p["total_flops"])
    eligible = _within_budget(front, config)
    chosen = max(eligible, key=lambda p: relative_score(p, single, directions), default=None)
    _write_front(config, out, front, chosen)
    record = {
        "dataset": config.data.name,
        "arch": f"{PartitionSpace.name} (searched)",
        "space": PartitionSpace.name,
        "strategy": config.searched.strategy,
        "evaluator": config.searched.evaluation.evaluator,
        "seed": config.seed,
        "tasks_primary_metric": {h.name: h.primary for h in handlers},
        "higher_is_better": directions,
        "trials": len(points),
        "front": front,
        "references": {**{p["label"]: p for p in points if p["label"]}, single["label"]: single},
        "chosen": chosen["number"] if chosen else None,
        "search_seconds": round(seconds, 3),
    }
    write_json_atomic(out / "front.json", front)
    write_json_atomic(out / "metrics.json", record)
    dump_trials(study, out / "trials.json")
    return record
