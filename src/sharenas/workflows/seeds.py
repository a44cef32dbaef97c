"""Several seeds of one request, the API behind ``--seeds 0,1,2``: each seed runs in its own
folder (``<out>/seed-<s>/``, resumed if it was interrupted, skipped if it finished), then one
report over the seeds (:mod:`sharenas.report.seeds`) in ``<out>/report.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.cache import write_json_atomic
from sharenas.config import Config, apply_overrides, build_config
from sharenas.errors import SharenasError
from sharenas.report.seeds import RecordsBySeed, write_seeds_report
from sharenas.run_files import read_record
from sharenas.runs.folder import with_search
from sharenas.runs.out_folder import check_folder, data_inputs, mark_checked
from sharenas.runs.records import read_metrics, with_delta
from sharenas.runs.smoke import smoke_title
from sharenas.runs.training import ensure_trained
from sharenas.spaces import SearchKind, space_specs
from sharenas.workflows.session import search

FINISHED = "seed-runs.json"  # the run folders of a finished seed, written last


def with_seed(config: Config, seed: int) -> Config:
    return build_config(apply_overrides(config.model_dump(mode="json"), [f"seed={seed}"]))


def seed_folder(base: Path, seed: int) -> Path:
    return Path(base) / f"seed-{seed}"


def _finished(folder: Path) -> list[Path] | None:
    path = folder / FINISHED
    return [Path(p) for p in read_record(path, list)] if path.exists() else None


def _records(runs: list[Path]) -> list[dict[str, Any]]:
    return with_delta([read_metrics(run) for run in runs])


def search_seeds(
    config: Config, base: Path, seeds: list[int], **options: Any
) -> tuple[RecordsBySeed, Path]:
    """A fusion or routing search (with its baselines) for every seed; returns the records per
    seed and the report. ``options`` go to :func:`sharenas.workflows.session.search`."""
    config = with_search(config)
    spec = config.searched.space_spec
    if spec.searched_by is SearchKind.STUDY:
        one_shot = " and ".join(
            s.name for s in space_specs() if s.searched_by is SearchKind.SUPERNET
        )
        raise SharenasError(
            f"--seeds runs training and the {one_shot} searches; a {spec.name} study is "
            "one seed each: run it per seed with --seed N (and --out per seed)."
        )
    check_folder(base, "seeds", data_inputs(config))  # a new, empty or seeds folder only
    records: RecordsBySeed = {}
    for seed in seeds:
        folder = seed_folder(base, seed)
        runs = _finished(folder)
        if runs is None:
            resume = (folder / "search").exists()
            found = search(with_seed(config, seed), folder, resume=resume, **options)
            runs = [Path(r["run"]) for r in found.comparison]
            write_json_atomic(folder / FINISHED, [str(r) for r in runs])
        mark_checked(base)  # the seeds folder is sharenas's once a seed's folder is in it
        records[seed] = _records(runs)
    title = f"{config.data.name}: {spec.name} search against the baselines, {len(seeds)} seeds"
    title = smoke_title(title, bool(options.get("smoke")))
    return records, write_seeds_report(records, base, title)


def train_seeds(
    config: Config, base: Path, seeds: list[int], reference: Path | None = None, **options: Any
) -> tuple[RecordsBySeed, Path]:
    """``config``'s architecture trained for every seed; ``reference`` (a folder with a
    ``seed-<s>`` single-task run per seed) fills Δ_MTL."""
    check_folder(base, "seeds", data_inputs(config))  # a new, empty or seeds folder only
    records: RecordsBySeed = {}
    for seed in seeds:
        folder = seed_folder(base, seed)
        single = seed_folder(reference, seed) if reference is not None else None
        ensure_trained(with_seed(config, seed), folder, reference=single, **options)
        mark_checked(base)  # the seeds folder is sharenas's once a seed's folder is in it
        records[seed] = [read_metrics(folder)]
    title = f"{config.data.name}: {config.model.arch}, {len(seeds)} seeds"
    title = smoke_title(title, bool(options.get("smoke")))
    return records, write_seeds_report(records, base, title)
