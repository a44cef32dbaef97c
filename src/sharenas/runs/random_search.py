"""Random search as a strategy of the fusion and routing spaces (Li & Talwalkar 2019, "Random
search and reproducibility for NAS"): ``search.random_architectures`` points drawn uniformly
from the space (``Space.sample``), each trained from scratch with the search's budget in
``candidates/<k>/``; the one best on validation is delivered as the search's run folder.

``candidates/config.yaml`` records the search's config (for ``--resume``); finished candidates
are kept and an unfinished one resumes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sharenas.cache import write_json_atomic
from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.runs.folder import (
    ARCH,
    BEST,
    CANDIDATES,
    CONFIG,
    INPUTS,
    METRICS,
    copy_delivered,
    write_run_files,
)
from sharenas.runs.random_archs import train_random
from sharenas.runs.records import best_on_validation, read_metrics, validation_score


def run_random_search(
    config: Config, out: Path, data: TaskSetData, progress: bool
) -> tuple[dict[str, Any], str]:
    """Train the random candidates, deliver the best on validation; returns the record written
    to ``metrics.json`` and a line that describes the choice."""
    began = time.perf_counter()
    write_run_files(out / CANDIDATES, config, data)
    runs = train_random(config, out / CANDIDATES, data, progress)
    records = [read_metrics(run) for run in runs]
    best = best_on_validation(records)
    assert best is not None
    chosen = Path(best["run"])
    copy_delivered(chosen, out, (CONFIG, ARCH, INPUTS, BEST))  # the chosen one is delivered
    record = {
        **{k: v for k, v in best.items() if k != "run"},
        "arch": f"{config.searched.space} (random search)",
        "strategy": config.searched.strategy,
        "chosen": f"{CANDIDATES}/{chosen.name}",
        "candidates": [
            {
                "run": f"{CANDIDATES}/{Path(r['run']).name}",
                "val_score": validation_score(r, records),
                "primary": r["primary"],
            }
            for r in records
        ],
        "search_seconds": round(time.perf_counter() - began, 3),
        "train_seconds": round(sum(r["train_seconds"] for r in records), 3),
    }
    write_json_atomic(out / METRICS, record)
    line = f"best of {len(records)} random architectures on validation: {record['chosen']}"
    return record, line
