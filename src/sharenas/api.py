"""The public Python API: train, search, auto, evaluate, compare and open runs. The ``sharenas``
command is a thin layer over these (it resolves configs through :func:`resolve_config`, as
these do)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sharenas.architectures import check_architecture
from sharenas.config import Config, build_overridden, load_config
from sharenas.runs import folder, result, training

if TYPE_CHECKING:
    from sharenas.report.seeds import RecordsBySeed
    from sharenas.workflows.auto import AutoResult


def resolve_config(
    config: Config | str | Path,
    overrides: list[str] | None = None,
    arch: str | Path | None = None,
) -> Config:
    """A config file or object with ``arch`` (a name or a search's arch.json, whose model
    section replaces the file's) and the ``KEY=VALUE`` overrides applied (an override wins over
    the arch.json)."""
    if arch is not None and not str(arch).endswith(".json"):
        check_architecture(str(arch), "--arch")  # before anything is read or loaded
    if not isinstance(config, Config):
        if arch is not None:
            resolved = folder.resolve_run_config(Path(config), arch, overrides)
        else:
            resolved = load_config(Path(config), overrides)
    else:
        resolved = config
        if overrides:
            resolved = build_overridden(config.model_dump(mode="json"), overrides, "the config")
        resolved = folder.with_arch(resolved, str(arch)) if arch is not None else resolved
    check_architecture(resolved.model.arch, _arch_source(config, overrides))
    return resolved


def _arch_source(config: Config | str | Path, overrides: list[str] | None) -> str:
    """Where ``model.arch`` was given: its ``--set`` option, else the config."""
    for item in reversed(overrides or []):
        if item.partition("=")[0].strip() == "model.arch":
            return f"--set {item}"
    return f"{'the config' if isinstance(config, Config) else config}: model.arch"


def default_folder(config: Config, smoke: bool = False, search: bool = False) -> Path:
    """Where a run of ``config`` goes without ``out``: ``runs/<dataset>-<arch or space>-s<seed>``
    (under ``runs/smoke/`` for a smoke run); a searched architecture trained again goes to
    ``<dataset>-<space>-trained-s<seed>``, beside its search's folder, not into it."""
    from sharenas.runs.smoke import default_folder as folder_of

    kind = folder.with_search(config).searched.space if search else config.model.arch
    if not search and config.model.genotype is not None:
        kind += "-trained"
    return folder_of(config, kind, smoke)


def train(
    config: Config | str | Path,
    out: str | Path | None = None,
    *,
    arch: str | Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    smoke: bool = False,
    reference: str | Path | None = None,
    progress: bool = True,
) -> result.Run:
    """Train ``config``'s architecture (or ``arch``: a name or a search's arch.json) and return
    the finished run: ``run.metrics``, ``run.model`` (the best-validation network, eval mode),
    ``run.folder``; ``reference``: a single-task run folder that fills Δ_MTL.

    >>> run = sharenas.train("configs/census.yaml", arch="mmoe", overrides=["train.epochs=2"])
    """
    resolved = resolve_config(config, overrides, arch)
    run_dir = Path(out) if out is not None else default_folder(resolved, smoke)
    training.train(
        resolved,
        run_dir,
        resume=resume,
        smoke=smoke,
        reference=Path(reference) if reference is not None else None,
        progress=progress,
    )
    return result.open_run(run_dir)


def affinity_folder(config: Config) -> Path:
    """Where :func:`affinity` writes without ``out``: ``runs/<dataset>-affinity-s<seed>``."""
    from sharenas.runs.smoke import default_folder as folder_of

    return folder_of(config, "affinity", False)


def affinity(
    config: Config | str | Path,
    out: str | Path | None = None,
    *,
    overrides: list[str] | None = None,
    every: int | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Which tasks help which: one hard-sharing training measuring TAG's lookahead affinity
    (Fifty et al. 2021) every ``every`` steps (default: ≈ 30 % extra cost) and per-stage
    gradient cosines. Returns the record written to ``affinity.json`` in the run folder:
    ``tasks``, ``lookahead`` (``Z[i][j]``: a step on task i lowers task j's loss by that fraction),
    ``stages``, ``groups`` (each task's group).

    >>> found = sharenas.affinity("census-income")
    """
    from sharenas.workflows.affinity import measure_affinity

    resolved = resolve_config(config, overrides)
    run_dir = Path(out) if out is not None else affinity_folder(resolved)
    return measure_affinity(resolved, run_dir, every=every, resume=resume, progress=progress)


def search(
    config: Config | str | Path,
    out: str | Path | None = None,
    *,
    overrides: list[str] | None = None,
    resume: bool = False,
    smoke: bool = False,
    baselines: bool = True,
    progress: bool = True,
) -> result.SearchResult:
    """Run ``config``'s search (its ``search`` section), deliver the searched model and compare it
    with the baselines trained with the same budget. The result holds ``model`` (the delivered
    ``nn.Module``), ``metrics``, ``folder``, ``comparison`` and the report's ``files``.

    >>> found = sharenas.search("configs/census-routing.yaml", overrides=["seed=1"])
    """
    from sharenas.workflows.session import search as run_session

    return run_session(
        resolve_config(config, overrides),
        Path(out) if out is not None else None,
        resume=resume,
        smoke=smoke,
        baselines=baselines,
        progress=progress,
    )


def train_seeds(
    config: Config | str | Path,
    out: str | Path,
    seeds: list[int],
    *,
    arch: str | Path | None = None,
    overrides: list[str] | None = None,
    reference: str | Path | None = None,
    **options: Any,
) -> tuple[RecordsBySeed, Path]:
    """``config``'s architecture trained for every seed in ``out/seed-<s>`` (finished ones
    kept, interrupted ones resumed), then one report over the seeds; ``reference``: a folder
    with a single-task ``seed-<s>`` run per seed. Returns the records per seed and the report."""
    from sharenas.workflows.seeds import train_seeds as run_seeds

    resolved = resolve_config(config, overrides, arch)
    ref = Path(reference) if reference is not None else None
    return run_seeds(resolved, Path(out), seeds, ref, **options)


def search_seeds(
    config: Config | str | Path,
    out: str | Path,
    seeds: list[int],
    *,
    overrides: list[str] | None = None,
    **options: Any,
) -> tuple[RecordsBySeed, Path]:
    """``config``'s search session for every seed in ``out/seed-<s>``, then one report over the
    seeds with paired intervals. Returns the records per seed and the report."""
    from sharenas.workflows.seeds import search_seeds as run_seeds

    return run_seeds(resolve_config(config, overrides), Path(out), seeds, **options)


def auto(
    config: Config | str | Path,
    out: str | Path,
    budget: str | float,
    *,
    overrides: list[str] | None = None,
    hours: float | None = None,
    eta: int = 3,
    seeds: list[int] | None = None,
    thorough: bool = False,
    smoke: bool = False,
    progress: bool = True,
    workers: int = 1,
    storage: str | None = None,
) -> AutoResult:
    """For ``config``'s task set and a FLOPs budget (FLOPs per example, or a baseline's name
    such as ``"hard-sharing"``): the room measured first (single-task, and hard-sharing with
    task affinity through the branching search), stopping there when no architecture is likely
    to win; else the affinity tree and the baselines within the budget (``thorough``: every
    space's search and random architectures too); one cross-space front and the recommended
    model (``result.recommended``, a run folder in ``out/recommended``). ``smoke``: the same
    run shrunk to seconds (2 epochs of 2 batches on 128 rows). ``workers``: the independent
    units of each phase on that many processes, through an Optuna study in ``storage`` (a
    journal file in ``out`` by default; a PostgreSQL URL for workers on several hosts).
    Rerun to resume.

    >>> answer = sharenas.auto("configs/census-income.yaml", "runs/auto", "hard-sharing")
    """
    from sharenas.workflows.auto import AutoOptions
    from sharenas.workflows.auto import auto as run_auto

    resolved = resolve_config(config, overrides)
    if smoke:
        from sharenas.runs.smoke import smoke_config

        resolved = smoke_config(resolved, every_space=True)
    options = AutoOptions(hours, eta, seeds, thorough, progress, workers, storage, smoke)
    return run_auto(resolved, Path(out), str(budget), options)


def evaluate(run: str | Path, split: str = "test") -> dict[str, dict[str, float]]:
    """A run's metrics recomputed on ``split`` from its delivered weights."""
    return training.evaluate_run(Path(run), split)


def compare(runs: list[str | Path], out: str | Path) -> tuple[list[dict[str, Any]], Path, Path]:
    """Finished runs compared (Δ_MTL against a single-task run among them): their records, and
    ``out/report.md`` and ``out/report.png``. ``out`` must be new, empty or a report folder
    sharenas wrote, and hold none of the runs."""
    from sharenas.report.runs import write_report
    from sharenas.runs.out_folder import check_folder
    from sharenas.runs.records import read_metrics, with_delta

    folders = [Path(r) for r in runs]
    _, markdown, chart = write_report(folders, check_folder(Path(out), "report", folders))
    return with_delta([read_metrics(r) for r in folders]), markdown, chart


def load_run(path: str | Path) -> result.Run:
    """A finished run folder (a training run or a search's ``search/`` folder): its config,
    metrics and delivered model."""
    return result.open_run(Path(path))
