"""``--smoke``: the same run shrunk to seconds, in its own folder."""

from __future__ import annotations

from pathlib import Path

from sharenas.config import Config, apply_overrides, build_config
from sharenas.runs.folder import with_search
from sharenas.spaces.registry import space_names, space_spec

SMOKE = {"train.epochs": 2, "train.max_batches": 2, "data.limit": 128}


def smoke_config(config: Config, every_space: bool = False) -> Config:
    """2 epochs of 2 batches on 128 rows per split, and the searched space's own caps (a
    partition search: 4 partitions, 5 distillation steps each); with ``every_space`` (``auto``,
    which may search them all) every space's caps."""
    if every_space:
        config = with_search(config)
    raw = config.model_dump(mode="json")
    train = raw["train"]
    overrides = [f"{k}={v}" for k, v in SMOKE.items()]
    overrides += [
        f"train.batch_size={min(train['batch_size'], 64)}",
        f"train.eval_batch_size={min(train['eval_batch_size'], 128)}",
        "train.early_stopping=null",
    ]
    search = raw.get("search") or {}
    spaces = space_names() if every_space else [search["space"]] if search else []
    caps = {k: v for space in spaces for k, v in space_spec(space).smoke.items()}
    if caps:  # the space's own caps (partition: a handful of partitions scored in seconds)
        for key, cap in caps.items():
            section, name = key.split(".")
            overrides.append(f"search.{key}={min(search[section][name], cap)}")
    return build_config(apply_overrides(raw, overrides), source="smoke config")


def default_folder(config: Config, kind: str, smoke: bool) -> Path:
    """``runs/<dataset>-<kind>-s<seed>``; a smoke run under ``runs/smoke/`` so that it never
    blocks the real run's folder."""
    name = f"{config.data.name}-{kind}-s{config.seed}"
    return Path("runs") / "smoke" / name if smoke else Path("runs") / name
