"""``sharenas affinity``: one hard-sharing training that measures which tasks help which
(:class:`sharenas.affinity.AffinityStep`), written into its run folder as ``affinity.json`` and
the heat map ``affinity.png``, with the task groups read from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.affinity import AffinityStep, group_tasks
from sharenas.cache import write_json_atomic
from sharenas.config import Config, apply_overrides, build_config
from sharenas.report.affinity import affinity_figure
from sharenas.run_files import METRICS, read_record
from sharenas.runs.training import train

AFFINITY = "affinity.json"
ARCH = "hard-sharing"  # TAG measures affinity in the network where every task shares everything


def affinity_config(config: Config) -> Config:
    """``config`` with the hard-sharing architecture."""
    return build_config(apply_overrides(config.model_dump(mode="json"), [f"model.arch={ARCH}"]))


def measure_affinity(
    config: Config,
    out: Path,
    *,
    every: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train hard-sharing on ``config`` in ``out`` measuring affinity; the affinity record
    (tasks, lookahead matrix, per-stage cosines, groups, cost). A finished folder is read back."""
    out = Path(out)
    if (out / AFFINITY).exists() and (out / METRICS).exists():
        return read_record(out / AFFINITY)
    step = AffinityStep(every)
    metrics = train(
        affinity_config(config), out, resume=resume, progress=progress, step=step,
        label=f"{ARCH} + affinity",
    )  # fmt: skip
    step.synchronise()
    matrices = step.matrices()
    record = {
        **matrices,
        "groups": group_tasks(matrices["lookahead"]),
        "train_seconds": metrics.get("train_seconds"),
    }
    write_json_atomic(out / AFFINITY, record)
    affinity_figure(record, out / "affinity.png")
    return record
