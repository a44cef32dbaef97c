"""``--smoke``: the same run shrunk to seconds, in its own folder."""

from __future__ import annotations

from pathlib import Path

from sharenas.config import Config, apply_overrides, build_config

SMOKE = {"train.epochs": 2, "train.max_batches": 2, "data.limit": 128}


def smoke_config(config: Config) -> Config:
    """2 epochs of 2 batches on 128 rows per split (a partition search: 4 partitions, 5
    distillation steps each)."""
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


def default_folder(config: Config, kind: str, smoke: bool) -> Path:
    """``runs/<dataset>-<kind>-s<seed>``; a smoke run under ``runs/smoke/`` so that it never
    blocks the real run's folder."""
    name = f"{config.data.name}-{kind}-s{config.seed}"
    return Path("runs") / "smoke" / name if smoke else Path("runs") / name
