"""A partition search run: workers evaluate partitions in one Optuna study, then the Pareto
front, the reference points and the pictures are written to the search folder.

The folder holds ``config.yaml``, the study (``study.db`` for one worker, ``study.journal`` for
several, unless ``--storage`` points elsewhere),
``trials/<n>/`` (each evaluation's files), ``trials.json``, ``front.json``, ``front/<n>.json``
(each front point as an arch.json for ``sharenas train --arch``), ``arch.json`` (the front point
with the best mean score relative to single-task) and ``metrics.json``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sharenas.cache import file_lock, write_bytes_atomic, write_json_atomic
from sharenas.config import Config, dump_config
from sharenas.data import create_dataset
from sharenas.data.base import TaskSetData
from sharenas.errors import ConfigError
from sharenas.runs.folder import model_record
from sharenas.runs.partition_eval import create_evaluator, load_teachers, teacher_folder
from sharenas.runs.training import task_handlers
from sharenas.search.partition_study import (
    DUPLICATE,
    OVER_BUDGET,
    SURPLUS,
    EvolutionProposer,
    RetryKilledTrial,
    dump_trials,
    duplicates,
    is_surplus_copy,
    open_study,
    position,
    queue_key,
    spent,
)
from sharenas.search.storage import (
    JOURNAL,
    PASSWORD_ENV,
    heartbeat,
    journal_url,
    open_storage,
    password,
)
from sharenas.spaces.partition import PartitionGenotype, PartitionSpace, partition_space
from sharenas.spaces.partition_resources import partition_resources

log = logging.getLogger(__name__)


def study_settings(config: Config, out: Path) -> tuple[str, str]:
    """(storage URL, study name) of ``config``'s search in ``out``: ``search.study.storage``,
    else the study file already in ``out``, else SQLite for one worker and a journal file for
    several (Optuna advises against SQLite for parallel workers)."""
    assert config.search is not None
    study = config.search.study
    name = study.name or f"{config.data.name}-partition-s{config.seed}"
    return study.storage or default_storage(Path(out), study.workers), name


def default_storage(out: Path, workers: int) -> str:
    database, journal = (out / "study.db").resolve(), out / "study.journal"
    if journal.exists() or (workers > 1 and not database.exists()):
        return journal_url(journal)
    return f"sqlite:///{database}"


def existing_study(url: str) -> bool:
    """Whether a study file of this search's own folder (SQLite or journal) exists."""
    for prefix in ("sqlite:///", JOURNAL):
        if url.startswith(prefix) and Path(url.removeprefix(prefix)).exists():
            return True
    return False


def warn_sqlite_workers(config: Config, url: str) -> None:
    assert config.search is not None
    workers = config.search.study.workers
    if url.startswith("sqlite") and workers > 1:
        log.warning(
            "search.study.storage is SQLite with %d workers: SQLite locks the whole file, so "
            "workers wait on each other (and Optuna advises against it); leave the storage unset "
            "for a journal file on this host, or give a PostgreSQL URL for several hosts",
            workers,
        )


def _space(config: Config, data: TaskSetData) -> PartitionSpace:
    assert config.search is not None
    return partition_space(
        task_handlers(data), data.input_spec, config.model, config.search.partition
    )


def _signature(config: Config, space: PartitionSpace, directions: list[str]) -> dict[str, Any]:
    assert config.search is not None
    return {
        "space": "partition",
        "space_config": config.search.partition.model_dump(mode="json"),
        "backbone": config.model.backbone.model_dump(mode="json"),
        "tasks": list(space.task_names),
        "objectives": [
            *(f"{t}:{d}" for t, d in zip(space.task_names, directions, strict=False)),
            "flops:minimize",
        ],
        "evaluation": config.search.evaluation.model_dump(mode="json"),
        "strategy": config.search.strategy,
    }


def _flops_of(space: PartitionSpace, data: TaskSetData, vector: list[float]) -> int:
    network = space.build(space.genotype_from_vector(vector))
    return partition_resources(network, data.val.example(2)).total_flops


def _sampler(config: Config, index: int, position: int = 0) -> Any:
    """NSGA-II (with the FLOPs budget as a constraint) or random sampling, seeded by the study
    seed, the worker's ``index`` (workers draw different points) and the trial's ``position``
    (a resumed study draws what an uninterrupted one would)."""
    import optuna

    assert config.search is not None
    settings = config.search.study
    study_seed = settings.seed if settings.seed is not None else config.seed
    seed = (study_seed * 1000 + index) * 100_003 + position
    if config.search.strategy != "nsga2":
        return optuna.samplers.RandomSampler(seed=seed)
    # the FLOPs budget reaches NSGA-II as each trial's constraint (``Trial.set_constraint``)
    return optuna.samplers.NSGAIISampler(population_size=settings.population, seed=seed)


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

    assert config.search is not None
    settings = config.search.study
    url, name = study_settings(config, out)
    references = space.reference_vectors()
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

    assert config.search is not None
    heartbeat = config.search.study.heartbeat
    try:
        study = optuna.load_study(
            study_name=name, storage=open_storage(url, heartbeat, RetryKilledTrial())
        )
    except KeyError:  # killed before the study was created
        return
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


class TrialObjective:
    """One trial of the study: propose a partition, skip surplus copies and points over the
    FLOPs budget, evaluate it; the objectives are every task's score and the FLOPs."""

    def __init__(
        self,
        config: Config,
        out: Path,
        study: Any,
        space: PartitionSpace,
        data: TaskSetData,
        share_all_flops: int,
    ) -> None:
        assert config.search is not None
        self.settings, self.strategy = config.search.study, config.search.strategy
        self.out, self.study, self.space, self.data = Path(out), study, space, data
        self.handlers = task_handlers(data)
        self.share_all_flops = share_all_flops
        self.evaluator = create_evaluator(config, data, space, config.search.evaluation)

    def _skip(self, trial: Any) -> bool:
        """Another worker holds this queued point, ES proposes its own, or the budget is spent."""
        queued = queue_key(trial.user_attrs) is not None
        return (
            (self.strategy == "es" and not queued)
            or is_surplus_copy(self.study, trial.number, trial.user_attrs)
            or spent(self.study, below=trial.number) >= self.settings.trials
        )

    def _over_budget(self, trial: Any, vector: list[float]) -> bool:
        """Checked before the evaluation (which counts the FLOPs again for its record)."""
        if self.settings.flops_budget is None:
            return False
        if "reference" in trial.user_attrs:  # evaluated whatever the budget
            trial.set_constraint("flops_budget", 0.0)
            return False
        flops = _flops_of(self.space, self.data, vector)
        excess = flops / self.share_all_flops - self.settings.flops_budget
        trial.set_user_attr("budget_excess", excess)
        trial.set_constraint("flops_budget", excess)  # NSGA-II ranks infeasible points last
        if excess > 0:
            trial.set_user_attr(OVER_BUDGET, True)
            trial.set_user_attr("total_flops", flops)
        return excess > 0

    def _duplicate_of(self, trial: Any, genotype: dict[str, Any]) -> int | None:
        """The number of another trial that holds the same partition (evaluated, running or
        over the budget): a vector that rounds to a known partition is not evaluated again."""
        from optuna.trial import TrialState

        for other in self.study.get_trials(deepcopy=False):
            held = other.state in (TrialState.COMPLETE, TrialState.RUNNING) or (
                other.state == TrialState.PRUNED and other.user_attrs.get(OVER_BUDGET)
            )
            if (
                other.number != trial.number
                and held
                and other.user_attrs.get("genotype") == genotype
            ):
                return other.number
        return None

    def propose(self, trial: Any) -> PartitionGenotype | None:
        """The partition ``trial`` evaluates, or None when it is pruned without an evaluation (a
        surplus copy, a partition already held by another trial, over the FLOPs budget)."""
        size = self.space.vector_size
        vector = [trial.suggest_float(f"v{i}", 0.0, 1.0) for i in range(size)]
        if self._skip(trial):
            trial.set_user_attr(SURPLUS, True)
            return None
        genotype = self.space.genotype_from_vector(vector)
        duplicate = self._duplicate_of(trial, genotype.to_dict())
        if duplicate is not None:
            trial.set_user_attr(DUPLICATE, duplicate)
            return None
        trial.set_user_attr("genotype", genotype.to_dict())
        if self._over_budget(trial, vector):
            return None
        return genotype

    def evaluate(self, trial: Any, genotype: PartitionGenotype) -> list[float]:
        """Every task's validation score and the FLOPs of the partition."""
        evaluation = self.evaluator.evaluate(genotype, self.out / "trials" / str(trial.number))
        trial.set_user_attr("evaluation", evaluation.to_dict())
        scores = [evaluation.primary[h.name] for h in self.handlers]
        return [*scores, float(evaluation.total_flops)]


def run_trial(
    study: Any, objective: TrialObjective, sampler: Callable[[int], Any], lock: Path
) -> None:
    """Ask, evaluate and tell one trial. The ask runs under a file lock (SQLite cannot lock a
    row, so two local workers could otherwise pop the same queued trial) with a sampler seeded
    by the trial's position in the study, so that a resumed study proposes what an
    uninterrupted one would. The heartbeat is recorded before the lock is released."""
    import optuna

    with file_lock(lock):
        optuna.storages.fail_stale_trials(study)
        study.sampler = sampler(position(study))
        trial = study.ask()
        study._storage.record_heartbeat(trial._trial_id)
        genotype = objective.propose(trial)
    if genotype is None:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    with heartbeat(study._storage, trial._trial_id, objective.settings.heartbeat):
        try:
            values = objective.evaluate(trial, genotype)
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
    study.tell(trial, values)


def worker(config: Config, out: Path, data: TaskSetData | None = None, index: int = 0) -> None:
    """Evaluate partitions until the study holds ``search.study.trials`` of them; ``index``
    tells workers apart (each samples its own points)."""
    assert config.search is not None
    data = data if data is not None else create_dataset(config.data).load()
    space = _space(config, data)
    config = with_max_flops(config, data, space)  # config.yaml keeps search.max_flops as given
    settings = config.search.study  # type: ignore[union-attr]
    directions = ["maximize" if h.higher_is_better else "minimize" for h in task_handlers(data)]
    share_all = _flops_of(space, data, space.reference_vectors()["share-all"])
    study = _join_study(config, out, space, directions, _sampler(config, index), share_all)
    out = Path(out)
    objective = TrialObjective(config, out, study, space, data, share_all)
    proposer = None
    if config.search.strategy == "es":
        study_seed = settings.seed if settings.seed is not None else config.seed
        proposer = EvolutionProposer(
            study, space.vector_size, settings, directions, share_all, study_seed
        )
    while spent(study) < settings.trials:
        if proposer is not None and not proposer.propose():
            time.sleep(1.0)
            continue
        if duplicates(study) > 10 * settings.trials + 50:
            log.warning(
                "%s: the sampler keeps proposing partitions already evaluated; the space holds "
                "fewer distinct partitions than search.study.trials=%d, so the search stops",
                out,
                settings.trials,
            )
            break
        run_trial(study, objective, lambda n: _sampler(config, index, n), out / ".study.lock")
    dump_trials(study, Path(out) / "trials.json")


def worker_environment(config: Config, out: Path) -> dict[str, str]:
    """The workers' environment: the storage password is passed through it (config.yaml keeps
    the URL without it, and a command line is visible to every user)."""
    assert config.search is not None
    env = dict(os.environ)
    secret = password(config.search.study.storage)
    if secret:
        env[PASSWORD_ENV] = secret
    return env


def check_storage(config: Config) -> None:
    """Open a given storage before data loading and teacher training, so that a wrong URL or
    password fails at once."""
    assert config.search is not None
    if config.search.study.storage:
        open_storage(config.search.study.storage, config.search.study.heartbeat)


def with_max_flops(config: Config, data: TaskSetData, space: PartitionSpace) -> Config:
    """``search.max_flops`` (FLOPs per example) as the study's budget, a fraction of
    share-all's FLOPs (the stricter of the two when both are set)."""
    assert config.search is not None
    if config.search.max_flops is None:
        return config
    share_all = _flops_of(space, data, space.reference_vectors()["share-all"])
    fraction = config.search.max_flops / share_all
    given = config.search.study.flops_budget
    study = config.search.study.model_copy(
        update={"flops_budget": fraction if given is None else min(given, fraction)}
    )
    search = config.search.model_copy(update={"study": study})
    return config.model_copy(update={"search": search})


def check_budget(config: Config, data: TaskSetData, space: PartitionSpace) -> None:
    """A clear error when no partition can meet the FLOPs budget."""
    assert config.search is not None
    budget = config.search.study.flops_budget
    if budget is None:
        return
    share_all = _flops_of(space, data, space.reference_vectors()["share-all"])
    smallest = _flops_of(space, data, [0.0] * space.vector_size)  # 1 channel each, none shared
    if smallest / share_all > budget:
        raise ConfigError(
            f"search.study.flops_budget={budget:g}: no partition can meet it; the smallest "
            f"(every task one channel) costs {smallest / share_all:.3f} of share-all's FLOPs. "
            "Raise the budget, or mask more stages (search.partition.stages)."
        )


def run_partition_search(
    config: Config, out: Path, resume: bool = False, data: TaskSetData | None = None
) -> dict[str, Any]:
    """Train the teachers (distill), run the workers, then write the front and the pictures."""
    import optuna

    assert config.search is not None
    out = Path(out)
    url, name = study_settings(config, out)
    warn_sqlite_workers(config, url)
    if existing_study(url) and not resume:
        raise ConfigError(
            f"{out} holds a partition study; pass --resume to continue it, or --out to start "
            "elsewhere."
        )
    data = data if data is not None else create_dataset(config.data).load()
    space = _space(config, data)
    check_budget(with_max_flops(config, data, space), data, space)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "config.yaml", dump_config(config).encode())
    if resume:  # the trials of the killed search fail (and are queued again) before any other
        settle_killed(config, url, name)
    began = time.perf_counter()
    teachers = load_teachers(config, data)  # trained once, before the workers need them
    del teachers
    workers = config.search.study.workers
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
    storage = open_storage(url, config.search.study.heartbeat, RetryKilledTrial())
    study = optuna.load_study(study_name=name, storage=storage)
    return summarise(config, out, study, data, seconds)


def _single_task(config: Config, handlers: list[Any]) -> dict[str, Any]:
    """The single-task reference: the teachers' validation metrics and FLOPs."""
    teacher = json.loads((teacher_folder(config) / "metrics.json").read_text())
    return {
        "label": "single-task",
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
    assert config.search is not None
    (out / "front").mkdir(exist_ok=True)
    base = {
        "format": "sharenas-arch/1",
        "kind": "genotype",
        "space": "partition",
        "space_config": config.search.partition.model_dump(mode="json"),
        "model": model_record(config),
    }
    for point in front:
        write_json_atomic(out / "front" / f"{point['number']}.json", {**base, **point["genotype"]})
    if chosen is not None:
        write_json_atomic(out / "arch.json", {**base, **chosen["genotype"]})


def _within_budget(
    points: list[dict[str, Any]], config: Config, share_all: float | None
) -> list[dict[str, Any]]:
    """The points a budget allows to be chosen (the reference partitions, evaluated whatever
    the budget, may be over it)."""
    assert config.search is not None
    limits = [config.search.max_flops]
    if config.search.study.flops_budget is not None and share_all:
        limits.append(config.search.study.flops_budget * share_all)
    limit = min((x for x in limits if x is not None), default=None)
    return [p for p in points if limit is None or p["total_flops"] <= limit]


def summarise(
    config: Config, out: Path, study: Any, data: TaskSetData, seconds: float
) -> dict[str, Any]:
    """The front, the reference points and the files of the search folder."""
    assert config.search is not None
    handlers = task_handlers(data)
    directions = {h.name: h.higher_is_better for h in handlers}
    single = _single_task(config, handlers)
    points = _points(study)
    front = sorted((p for p in points if p["front"]), key=lambda p: p["total_flops"])
    eligible = _within_budget(front, config, study.user_attrs.get("share_all_flops"))
    chosen = max(eligible, key=lambda p: relative_score(p, single, directions), default=None)
    _write_front(config, out, front, chosen)
    record = {
        "dataset": config.data.name,
        "arch": "partition (searched)",
        "space": "partition",
        "strategy": config.search.strategy,
        "evaluator": config.search.evaluation.evaluator,
        "seed": config.seed,
        "tasks_primary_metric": {h.name: h.primary for h in handlers},
        "higher_is_better": directions,
        "trials": len(points),
        "front": front,
        "references": {**{p["label"]: p for p in points if p["label"]}, "single-task": single},
        "chosen": chosen["number"] if chosen else None,
        "search_seconds": round(seconds, 3),
    }
    write_json_atomic(out / "front.json", front)
    write_json_atomic(out / "metrics.json", record)
    dump_trials(study, out / "trials.json")
    return record
