"""What a finished run recorded (its metrics.json) and how runs are selected among: Δ_MTL against
the single-task run beside them, random architectures told apart, and the one a user would have
picked among them (the best on validation)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from sharenas.errors import SharenasError
from sharenas.run_files import read_record
from sharenas.runs.folder import METRICS
from sharenas.tasks import delta_mtl

RANDOM_SUFFIX = "(random)"


def is_random(record: dict[str, Any]) -> bool:
    return str(record.get("arch", "")).endswith(RANDOM_SUFFIX)


def validation_score(record: dict[str, Any], group: list[dict[str, Any]]) -> float:
    """Mean over tasks of the validation primary metric's signed relative change against the
    group's mean (higher is better): how a user would rank the random architectures."""
    terms = []
    for task, higher in record["higher_is_better"].items():
        metric = record["primary_metric"][task]
        values = [r["val"][task][metric] for r in group]
        mean = statistics.fmean(values)
        change = (record["val"][task][metric] - mean) / (abs(mean) + 1e-12)
        terms.append(change if higher else -change)
    return statistics.fmean(terms)


def best_on_validation(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The random architecture a user would have picked: the best on validation."""
    group = [r for r in records if is_random(r)]
    return max(group, key=lambda r: validation_score(r, group)) if group else None


_NUMBERS = ("params", "flops_per_example", "train_seconds")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shape_problem(record: dict[str, Any]) -> str | None:
    """What in a metrics.json is not as sharenas writes it (None: nothing)."""
    if not isinstance(record.get("arch"), str) or not isinstance(record.get("dataset"), str):
        return "'arch' and 'dataset' should be names"
    tasks, primary = record.get("tasks"), record.get("primary")
    directions = record.get("higher_is_better")
    if not (isinstance(tasks, dict) and tasks and isinstance(primary, dict)):
        return "'tasks' and 'primary' should map each task to its metrics"
    for task, metrics in tasks.items():
        if not isinstance(metrics, dict) or not all(map(_is_number, metrics.values())):
            return f"'tasks.{task}' should map metric names to numbers"
    if set(primary) != set(tasks) or not all(map(_is_number, primary.values())):
        return "'primary' should give one number per task"
    if not isinstance(directions, dict) or set(directions) != set(primary):
        return "'higher_is_better' should give one direction per task"
    if not all(isinstance(v, bool) for v in directions.values()):
        return "'higher_is_better' should hold true or false per task"
    bad = [k for k in _NUMBERS if not _is_number(record.get(k))]
    return f"{', '.join(bad)} should be numbers" if bad else None


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """A finished run's metrics.json, checked to be shaped as sharenas writes it."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        raise SharenasError(f"{run_dir}: no metrics.json; is it a finished run folder?")
    record = read_record(path)
    problem = _shape_problem(record) if isinstance(record, dict) else "not a JSON object"
    if problem:
        raise SharenasError(
            f"{path}: {problem}; the file was changed after the run wrote it. Train the run "
            "again, or restore metrics.json."
        )
    record["run"] = str(run_dir)
    return record


def with_delta(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill Δ_MTL against the single-task run of the same dataset, when one is among them."""
    singles = {r["dataset"]: r for r in records if r["arch"] == "single-task"}
    for record in records:
        single = singles.get(record["dataset"])
        if single is not None and set(record["primary"]) == set(single["primary"]):
            record["delta_mtl"] = delta_mtl(
                record["primary"], single["primary"], record["higher_is_better"]
            )
    return records
