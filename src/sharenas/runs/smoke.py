"""``--smoke``: the same run shrunk to seconds, in its own folder."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from sharenas.config import Config, apply_overrides, build_config, load_yaml
from sharenas.errors import SharenasError
from sharenas.run_files import CONFIG, LOCK
from sharenas.runs.folder import with_search
from sharenas.runs.lock import folder_lock
from sharenas.runs.out_folder import MARKER, folder_kind
from sharenas.spaces.registry import space_names, space_spec

log = logging.getLogger(__name__)

SMOKE = {"train.epochs": 2, "train.max_batches": 2, "data.limit": 128}
# the first words of every title (reports, printed tables) of a smoke run
SMOKE_NOTE = "Smoke run (2 epochs of 2 batches on 128 rows; the numbers mean nothing)"
# what a search folder records its config in, by how it was searched
_SEARCH_CONFIGS = ("search/supernet", "search/candidates", "search")
AUTO_STATE = "auto.json"  # an auto folder's record, its config included


def smoke_config(config: Config, every_space: bool = False) -> Config:
    """2 epochs of 2 batches on 128 rows per split, and the searched space's own caps (a
    partition search: 4 partitions, 5 distillation steps each); with ``every_space`` (``auto``,
    which may search them all) every space's caps. A smaller value of the config's own (``--set
    data.limit=16``) is kept: a cap never raises a value."""
    if every_space:
        config = with_search(config)
    raw = config.model_dump(mode="json")
    train = raw["train"]
    overrides = [f"{k}={_capped(raw, k, v)}" for k, v in SMOKE.items()]
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


def _capped(raw: dict[str, Any], key: str, cap: int) -> int:
    """The smaller of ``cap`` and the value at ``key`` (``section.name``) in ``raw`` (the cap
    where the value is unset)."""
    section, name = key.split(".")
    value = raw[section].get(name)
    return cap if value is None else min(int(value), cap)


def default_folder(config: Config, kind: str, smoke: bool) -> Path:
    """``runs/<dataset>-<kind>-s<seed>``; a smoke run under ``runs/smoke/`` so that it never
    blocks the real run's folder."""
    name = f"{config.data.name}-{kind}-s{config.seed}"
    return Path("runs") / "smoke" / name if smoke else Path("runs") / name


def _within(value: Any, cap: int) -> bool:
    """Whether ``value`` is a count from 1 to ``cap``."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= cap


def _smoke_marks(raw: Any) -> bool:
    """Whether a recorded config (plain data) carries the smoke caps no config ships with: at
    most 2 batches an epoch on at most 128 rows (a smoke run's own smaller ``--set`` values
    included)."""
    if not isinstance(raw, dict):
        return False
    train, data = raw.get("train"), raw.get("data")
    return (
        isinstance(train, dict)
        and isinstance(data, dict)
        and _within(train.get("max_batches"), SMOKE["train.max_batches"])
        and _within(data.get("limit"), SMOKE["data.limit"])
    )


def is_smoke(config: Config) -> bool:
    """Whether ``config`` is a smoke run's (:func:`smoke_config`)."""
    return _smoke_marks(config.model_dump(mode="json"))


def smoke_title(title: str, smoke: bool) -> str:
    """``title``, led by :data:`SMOKE_NOTE` for a smoke run."""
    return f"{SMOKE_NOTE}: {title}" if smoke else title


def titled(title: str, config: Config) -> str:
    """``title``, led by :data:`SMOKE_NOTE` for a smoke run's config."""
    return smoke_title(title, is_smoke(config))


def _recorded_smoke(folder: Path, kind: str) -> bool:
    """Whether ``folder`` is sharenas's ``kind`` folder (its marker) whose recorded config is a
    smoke run's."""
    try:
        if folder.is_symlink() or folder_kind(folder) != kind:
            return False
    except SharenasError:  # a marker sharenas did not write: the usual checks say so
        return False
    try:
        return _smoke_marks(_recorded_config(folder, kind))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return False


def _recorded_config(folder: Path, kind: str) -> Any:
    """The config a sharenas folder of ``kind`` recorded (plain data; None if none): a run's
    ``config.yaml``, a search's in its ``search/`` folder, an auto run's in ``auto.json``."""
    if kind == "auto":
        state = folder / AUTO_STATE
        if not state.is_file() or state.is_symlink():
            return None
        record = json.loads(state.read_text())
        return record.get("config") if isinstance(record, dict) else None
    places = [folder] if kind == "run" else [folder / p for p in _SEARCH_CONFIGS]
    recorded = next((p / CONFIG for p in places if (p / CONFIG).is_file()), None)
    return None if recorded is None else load_yaml(recorded.read_text())


def replace_smoke_run(folder: Path, kind: str) -> None:
    """Before a new smoke run into ``folder``: the earlier smoke run there removed, so that the
    same ``--smoke`` command runs again (changed or not, default folder or ``--out``). Only a
    folder that sharenas made (its ``kind`` marker: ``run``, ``search`` or ``auto``) and whose
    recorded config is a smoke run's is emptied (its marker and lock kept); any other folder is
    left to the usual checks."""
    where = Path(os.path.abspath(folder))
    if not _recorded_smoke(where, kind):
        return
    with folder_lock(where):  # refused while another command uses it
        log.info("replacing the earlier smoke run in %s", folder)
        for entry in where.iterdir():
            if entry.name in (MARKER, LOCK):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
