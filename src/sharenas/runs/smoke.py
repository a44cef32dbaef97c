"""``--smoke``: the same run shrunk to seconds, in its own folder."""

from __future__ import annotations

from pathlib import Path

from sharenas.config import Config, apply_overrides, build_config
from sharenas.spaces.registry import space_spec

SMOKE = {"train.epochs": 2, "train.max_batches": 2, "data.limit": 128}


def smoke_config(config: Config) -> Config:
    """2 epochs of 2 batches on 128 rows per split, and the searched space's own caps (a
    partition search: 4 partitions, 5 distillation steps each)."""
    raw = config.model_dump(mode="json")
    train = raw["train"]
    overrides = [f"{k}={v}" for k, v in SMOKE.items()]
    overrides += [
        f"train.batch_size={min(train['batch_size'], 64)}",
        f"train.eval_batch_size={min(train['eval_batch_size'], 128)}",
        "train.early_stopping=null",
    ]
    search = raw.get("search") or {}
    if search:  # the space's own caps (partition: a handful of partitions scored in seconds)
        for key, cap in space_spec(search["space"]).smoke.items():
            section, name = key.split(".")
            overrides.append(f"search.{key}={min(search[section][name], cap)}")
    return build_config(apply_overrides(raw, overrides), source="smoke config")


def default_folder(config: Config, kind: str, smoke: bool) -> Path:
    """``runs/<dataset>-<kind>-s<seed>``; a smoke run under ``runs/smoke/`` so that it never
    blocks the real run's folder."""
    name = f"{config.data.name}-{kind}-s{config.seed}"
    return Path("runs") / "smoke" / name if smoke else Path("runs") / name
