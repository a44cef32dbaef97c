"""The partition search: evaluators, the Optuna study, workers sharing it, resume, errors."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sharenas.config import build_config, dump_config
from sharenas.errors import ConfigError
from sharenas.runs.partition import run_partition_search
from sharenas.search.partition_study import queue_key


def partition_config(strategy: str = "random", trials: int = 6, partition=None, **study):
    return build_config(
        {
            "data": {
                "name": "synthetic-mmoe",
                "train_size": 300,
                "val_size": 60,
                "test_size": 60,
                "dim": 8,
            },
            "model": {"backbone": {"name": "mlp", "widths": [16, 16]}},
            "train": {"epochs": 2, "batch_size": 50},
            "search": {
                "space": "partition",
                "strategy": strategy,
                "partition": {"stages": [0, 1], **(partition or {})},
                "evaluation": {"evaluator": "distill", "distill_steps": 5, "distill_batch": 32},
                "study": {"trials": trials, "population": 2, "es_directions": 1, **study},
            },
        }
    )


def trials_of(folder: Path) -> list[dict]:
    return json.loads((folder / "trials.json").read_text())


@pytest.mark.parametrize("strategy", ["random", "nsga2", "es"])
def test_search_writes_front_and_references(tmp_path: Path, strategy: str) -> None:
    record = run_partition_search(partition_config(strategy), tmp_path / "s")
    complete = [t for t in trials_of(tmp_path / "s") if t["state"] == "COMPLETE"]
    assert len(complete) == record["trials"] == 6
    assert {t.get("reference") for t in complete} >= {"share-all", "independent"}
    assert set(record["references"]) == {"share-all", "independent", "single-task"}
    assert record["front"] and all(p["front"] for p in record["front"])
    share = record["references"]["share-all"]
    alone = record["references"]["independent"]
    assert alone["total_flops"] < share["total_flops"]  # disjoint halves cost less
    for point in record["front"]:
        assert (tmp_path / "s" / "front" / f"{point['number']}.json").exists()
    assert json.loads((tmp_path / "s" / "arch.json").read_text())["space"] == "partition"


def test_full_evaluator_and_training_a_front_point(tmp_path: Path) -> None:
    """With gradient masks searched too: the front point's arch.json carries its G matrices."""
    from sharenas.runs.folder import with_arch
    from sharenas.runs.training import train

    config = partition_config(trials=3, partition={"gradient_masks": True})
    config = build_config(
        {
            **config.model_dump(mode="json"),
            "search": {
                **config.model_dump(mode="json")["search"],
                "evaluation": {"evaluator": "full", "epochs": 1},
            },
        }
    )
    record = run_partition_search(config, tmp_path / "s")
    assert record["evaluator"] == "full" and record["trials"] == 3
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert len(arch["gradients"]) == len(arch["matrices"]) == 1
    from sharenas.report.partition import partition_heatmaps

    assert partition_heatmaps(record, tmp_path / "p.png").stat().st_size > 0  # P and G rows
    trained = train(with_arch(config, "partition", arch), tmp_path / "t", progress=False)
    assert set(trained["primary"]) == {"task1", "task2"}


def test_session_delivers_the_chosen_partition_trained_and_pruned(tmp_path: Path, caplog) -> None:
    """The session trains the chosen point; its metrics.json, the search's and the front agree
    on FLOPs (the pruned network's flop_counter); test metrics and Δ_MTL in declared task
    order, in metrics.json and the report; each evaluation's log line names its trial, epochs
    counted from one; the comparison holds numbers."""
    from sharenas.data import create_dataset
    from sharenas.spaces.partition_resources import partition_resources
    from sharenas.workflows.partition_session import partition_session

    config = partition_config(trials=4)
    data = create_dataset(config.data).load()
    with caplog.at_level("INFO", logger="sharenas"):
        result = partition_session(config, tmp_path, data, resume=False)
    evaluations = [m for m in caplog.messages if ": distill epoch" in m]
    assert evaluations and all(re.match(r"trial \d+: distill epoch 1/1", m) for m in evaluations)
    assert all(isinstance(r["MFLOPs"], float) for r in result.comparison)
    search = json.loads((tmp_path / "search" / "metrics.json").read_text())
    model = json.loads((tmp_path / "search" / "model" / "metrics.json").read_text())
    chosen = next(p for p in search["front"] if p["number"] == search["chosen"])
    assert search["flops_per_example"] == model["flops_per_example"] == chosen["total_flops"]
    network = result.run.model.cpu()
    assert partition_resources(network, data.val.example(2)).total_flops == chosen["total_flops"]
    assert list(search["primary"]) == ["task1", "task2"] == list(search["single_task"]["primary"])
    assert search["delta_mtl"] == model["delta_mtl"] is not None
    report = (tmp_path / "report.md").read_text()
    assert "partition (searched, trained)" in report and "Δ_MTL %" in report
    links = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", report)  # the figures, beside the report
    assert links == ["pareto.png", "partitions.png"]
    assert all((tmp_path / link).exists() for link in links)


@pytest.mark.parametrize("strategy", ["random", "es"])
def test_two_workers_share_one_study(tmp_path: Path, strategy: str) -> None:
    """No trial lost, none evaluated twice, the budget kept exactly; ES workers agree on each
    generation through the storage alone."""
    config = partition_config(strategy, trials=8, workers=2, es_directions=1)
    record = run_partition_search(config, tmp_path / "s")
    trials = trials_of(tmp_path / "s")
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert len(complete) == record["trials"] == 8
    evaluated = sorted(int(p.name) for p in (tmp_path / "s" / "trials").iterdir())
    assert evaluated == sorted(t["number"] for t in complete)  # files of evaluated trials only
    assert not [t for t in trials if t["state"] == "COMPLETE" and t.get("surplus")]
    if strategy == "random":
        assert evaluated == list(range(8))
    else:
        keys = [queue_key(t) for t in complete]
        assert None not in keys and len(set(keys)) == 8  # each queued point evaluated once
        centres = {}
        for t in complete:
            if "es_generation" in t:
                centres.setdefault(t["es_generation"], t["es_centre"])
                assert t["es_centre"] == centres[t["es_generation"]]


class StaleView:
    """A worker's view of the study from before another worker's enqueues (a race)."""

    def __init__(self, study) -> None:
        self.study, self.trials = study, study.get_trials(deepcopy=True)

    def get_trials(self, deepcopy: bool = False):
        return self.trials

    def enqueue_trial(self, *args, **kwargs) -> None:
        self.study.enqueue_trial(*args, **kwargs)


def test_racing_es_workers_enqueue_identical_copies_and_one_holds_each() -> None:
    import optuna

    from sharenas.search.es import EvolutionProposer
    from sharenas.search.partition_study import holders, is_surplus_copy
    from sharenas.spaces.partition_config import StudyConfig

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "maximize", "minimize"])
    settings = StudyConfig(es_directions=2, es_keep=1)

    def proposer(view):
        return EvolutionProposer(view, 3, settings, ["maximize", "maximize"], 1.0, seed=5)

    assert proposer(study).propose()  # generation 0

    def objective(trial):
        v = [trial.suggest_float(f"v{i}", 0.0, 1.0) for i in range(3)]
        return [v[0], v[1], 1.0 + v[2]]

    study.optimize(objective, n_trials=4)
    stale = StaleView(study)  # both workers see generation 0 finished
    assert proposer(study).propose() and proposer(stale).propose()
    waiting = [t for t in study.get_trials() if t.state.name == "WAITING"]
    assert len(waiting) == 8 and {t.user_attrs["es_generation"] for t in waiting} == {1}
    first, copies = waiting[:4], waiting[4:]
    for a, b in zip(first, copies, strict=True):
        assert a.params == b.params and queue_key(a.user_attrs) == queue_key(b.user_attrs)
    held = holders(study.get_trials())
    assert sorted(t.number for k, t in held.items() if k[1] == 1) == [t.number for t in first]
    assert all(is_surplus_copy(study, t.number, t.user_attrs) for t in copies)
    assert not any(is_surplus_copy(study, t.number, t.user_attrs) for t in first)
    assert proposer(study).propose()  # generation 1 is queued: work to do, nothing new enqueued
    assert len(study.get_trials()) == 12


def _has_heartbeat(database: Path, trial_id: int) -> bool:
    """Whether Optuna's RDB storage holds a heartbeat of the trial (its own table)."""
    import sqlite3

    connection = sqlite3.connect(database)
    try:
        query = "SELECT 1 FROM trial_heartbeats WHERE trial_id = ?"
        return bool(connection.execute(query, (trial_id,)).fetchall())
    finally:
        connection.close()


@pytest.mark.parametrize("database", ["sqlite", "journal", "postgresql"])
def test_a_killed_worker_leaves_the_study_usable(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """A worker killed with SIGKILL in a trial: the trial is failed and its partition evaluated
    again when the search resumes, on SQLite, a journal file and a PostgreSQL server."""
    from sharenas.runs.partition_eval import load_teachers
    from sharenas.search.storage import journal_url, open_storage

    folder = tmp_path / "s"
    url = {
        "sqlite": f"sqlite:///{(folder / 'study.db').resolve()}",
        "journal": journal_url(folder / "study.journal"),
        "postgresql": "",
    }[database] or request.getfixturevalue("postgres_url")
    config = partition_config(trials=4, heartbeat=1, storage=url)
    slow = build_config(
        {
            **config.model_dump(mode="json"),
            "search": {
                **config.model_dump(mode="json")["search"],
                "evaluation": {"evaluator": "distill", "distill_steps": 400},
            },
        }
    )
    folder.mkdir()
    (folder / "config.yaml").write_text(dump_config(slow))  # about half a second per trial
    from sharenas.data import create_dataset

    load_teachers(slow, create_dataset(slow.data).load())
    worker = subprocess.Popen(
        [sys.executable, "-m", "sharenas.runs.partition_worker", str(folder), "0"],
        env=os.environ.copy(),
    )
    import optuna

    deadline = time.time() + 120
    running, storage = None, None
    while time.time() < deadline and running is None:
        time.sleep(0.05)  # polled often: a trial runs for about half a second
        if database == "postgresql" or any(folder.glob("study.*")):
            try:
                storage = storage or open_storage(url, 1)
                study = optuna.load_study(study_name="synthetic-mmoe-partition-s0", storage=storage)
            except Exception:  # not created yet, or its tables being created by the worker
                continue
            # a trial whose parameters are all drawn (its genotype recorded): killed while it
            # draws them, it is failed but not retried with a partial set, by design
            running = next(
                (
                    t
                    for t in study.get_trials()
                    if t.state.name == "RUNNING" and "genotype" in t.user_attrs
                ),
                None,
            )
    assert running is not None, "the worker never started a trial"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # no wait here: the resumed search itself waits out the grace period of 3 heartbeats
    # (partition.settle) before it fails the killed trial and queues its partition again
    record = run_partition_search(slow, folder, resume=True)
    trials = trials_of(folder)
    states = {t["number"]: t["state"] for t in trials}
    assert states[running.number] == "FAIL"
    retried = [
        t
        for t in trials
        if t["state"] == "COMPLETE"
        and t["params"] == running.params
        and t["number"] > running.number
    ]
    assert retried, "the killed trial's partition was not evaluated again"
    assert record["trials"] == 4


def test_study_and_budget_errors(tmp_path: Path) -> None:
    run_partition_search(partition_config(trials=2), tmp_path / "s")
    with pytest.raises(ConfigError, match="pass --resume"):
        run_partition_search(partition_config(trials=2), tmp_path / "s")
    with pytest.raises(ConfigError, match=r"created for another search \(different strategy\)"):
        run_partition_search(partition_config("nsga2", trials=3), tmp_path / "s", resume=True)
    with pytest.raises(ConfigError, match="cannot be opened"):
        run_partition_search(
            partition_config(storage="sqlite:////no/such/folder/study.db"), tmp_path / "u"
        )
    with pytest.raises(ConfigError, match="no partition can meet it"):
        tiny = partition_config().model_dump(mode="json")
        tiny["search"]["max_flops"] = 1.0  # FLOPs per example: below any partition
        run_partition_search(build_config(tiny), tmp_path / "b")


def test_study_options_only_apply_to_the_partition_search(tmp_path: Path, cli) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(
        "data: {name: synthetic-mmoe, train_size: 100, val_size: 20, test_size: 20, dim: 8}\n"
        "model: {backbone: {name: mlp, widths: [8, 8]}}\n"
        "search: {fusion: {depth_limit: 2}}\n"
    )
    result = cli("search", str(path), "--workers", "2")
    assert result.returncode == 2 and "--workers apply to the partition search" in result.stderr


def test_a_trial_killed_before_its_first_heartbeat_is_failed(tmp_path: Path) -> None:
    """Optuna never sees a RUNNING trial without a heartbeat row as stale; sharenas's storage
    fails it once the grace period (3 heartbeats) has passed since it started."""
    import optuna

    from sharenas.search.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat=1)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()  # RUNNING, and no heartbeat recorded: as if killed right here
    assert not _has_heartbeat(tmp_path / "study.db", trial._trial_id)
    optuna.storages.fail_stale_trials(study)
    assert study.get_trials()[0].state.name == "RUNNING"  # within the grace period: alive
    time.sleep(3.5)
    optuna.storages.fail_stale_trials(study)
    assert study.get_trials()[0].state.name == "FAIL"


@pytest.mark.parametrize(("strategy", "workers"), [("nsga2", 4), ("es", 2)])
def test_workers_share_one_study_on_a_postgresql_server(
    tmp_path: Path, postgres_url: str, strategy: str, workers: int
) -> None:
    """Worker processes joined through a real PostgreSQL server: no trial lost, none evaluated
    twice, the budget kept exactly. Each strategy and each worker count once (the code path of a
    worker does not depend on how many others there are; ES with 2 workers on a file storage is
    test_two_workers_share_one_study[es])."""
    config = partition_config(strategy, trials=8, workers=workers, storage=postgres_url)
    record = run_partition_search(config, tmp_path / "s")
    trials = trials_of(tmp_path / "s")
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert len(complete) == record["trials"] == 8
    evaluated = sorted(int(p.name) for p in (tmp_path / "s" / "trials").iterdir())
    assert evaluated == sorted(t["number"] for t in complete)
    genotypes = {json.dumps(t["genotype"], sort_keys=True) for t in complete}
    assert len(genotypes) == 8
    assert "sqlite" not in (tmp_path / "s" / "config.yaml").read_text()


def test_the_default_storage_fits_the_workers(tmp_path: Path, caplog) -> None:
    """One worker: SQLite in the search folder; several: a journal file (Optuna advises against
    SQLite for parallel workers); a study file already there is kept on resume; SQLite asked
    to serve several workers gets a warning."""
    from sharenas.runs.partition import study_settings, warn_sqlite_workers

    out = tmp_path / "s"
    out.mkdir()
    assert study_settings(partition_config(), out)[0].startswith("sqlite:///")
    assert study_settings(partition_config(workers=2), out)[0] == (
        f"journal://{(out / 'study.journal').resolve()}"
    )
    (out / "study.db").touch()  # a study started with one worker, resumed with two
    assert study_settings(partition_config(workers=2), out)[0].startswith("sqlite:///")
    sqlite = partition_config(workers=3, storage=f"sqlite:///{tmp_path / 'x.db'}")
    with caplog.at_level("WARNING"):
        warn_sqlite_workers(sqlite, sqlite.search.study.storage)
    assert "SQLite with 3 workers" in caplog.text


def test_a_missing_postgresql_driver_is_a_clear_error(monkeypatch) -> None:
    from sharenas.search.storage import open_storage

    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'sharenas\[postgres\]'"):
        open_storage("postgresql://someone@127.0.0.1:1/db", heartbeat=1)


def test_distill_adapters_start_as_the_identity_and_can_be_switched_off() -> None:
    import torch

    from sharenas.runs.partition_eval import TaskAdapters

    features = torch.randn(4, 3, 5, 5)
    adapters = TaskAdapters(2, 3)
    assert torch.allclose(adapters(features, 1), features) and adapters.weight.requires_grad
    adapters.weight.data[1] = torch.diag(torch.tensor([2.0, 0.0, 1.0]))
    mapped = adapters(features, 1)
    assert torch.allclose(mapped[:, 0], 2 * features[:, 0]) and not mapped[:, 1].any()
    off = TaskAdapters(2, 3, enabled=False)
    assert off(features, 0) is features and not off.weight.requires_grad


def test_the_short_evaluator_trains_a_fraction_of_the_budget(tmp_path: Path) -> None:
    """The default evaluator trains each partition for ⌈epochs × short_fraction⌉ epochs."""
    from sharenas.data import create_dataset
    from sharenas.runs.partition import _space
    from sharenas.runs.partition_eval import ShortEvaluator, create_evaluator

    raw = partition_config().model_dump(mode="json")
    raw["train"]["epochs"] = 5
    raw["search"]["evaluation"] = {}
    config = build_config(raw)
    assert config.searched.evaluation.evaluator == "short"
    data = create_dataset(config.data).load()
    space = _space(config, data)
    evaluator = create_evaluator(config, data, space, config.searched.evaluation)
    assert isinstance(evaluator, ShortEvaluator) and evaluator.epochs() == 2  # ⌈5 / 3⌉
    outcome = evaluator.evaluate(space.share_all(), tmp_path / "p")
    history = (tmp_path / "p" / "history.jsonl").read_text().splitlines()
    assert outcome.extra["evaluator"] == "short" and len(history) == 2
    halved = config.searched.evaluation.model_copy(update={"short_fraction": 0.2})
    assert create_evaluator(config, data, space, halved).epochs() == 1
