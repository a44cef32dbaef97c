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


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / METRICS
    if not path.exists():
        raise SharenasError(f"{run_dir}: no metrics.json; is it a finished run folder?")
    record = read_record(path)
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
