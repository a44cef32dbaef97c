"""The public Python API: train, search and open runs. The ``sharenas`` command wraps these."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sharenas.config import Config, load_config
from sharenas.runs import folder, result, session, training

if TYPE_CHECKING:
    from sharenas.runs.auto import AutoResult


def _config(config: Config | str | Path, overrides: list[str] | None) -> Config:
    if isinstance(config, Config):
        if overrides:
            from sharenas.config import apply_overrides, build_config

            return build_config(apply_overrides(config.model_dump(mode="json"), overrides))
        return config
    return load_config(Path(config), overrides)


def train(
    config: Config | str | Path,
    out: str | Path | None = None,
    *,
    arch: str | Path | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
    smoke: bool = False,
    progress: bool = True,
) -> result.Run:
    """Train ``config``'s architecture (or ``arch``: a name or a search's arch.json) and return
    the finished run: ``run.metrics``, ``run.model`` (the best-validation network, eval mode),
    ``run.folder``.

    >>> run = sharenas.train("configs/census.yaml", arch="mmoe", overrides=["train.epochs=2"])
    """
    if arch is not None and not isinstance(config, Config):
        resolved = folder.resolve_run_config(Path(config), arch, overrides)
    else:
        resolved = _config(config, overrides)
        if arch is not None:
            resolved = folder.with_arch(resolved, str(arch))
    run_dir = Path(out) if out is not None else training.default_run_dir(resolved, smoke)
    training.train(resolved, run_dir, resume=resume, smoke=smoke, progress=progress)
    return result.open_run(run_dir)


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
    return session.search(
        _config(config, overrides),
        Path(out) if out is not None else None,
        resume=resume,
        smoke=smoke,
        baselines=baselines,
        progress=progress,
    )


def auto(
    config: Config | str | Path,
    out: str | Path,
    budget: str | float,
    *,
    overrides: list[str] | None = None,
    hours: float | None = None,
    eta: int = 3,
    seeds: list[int] | None = None,
    progress: bool = True,
) -> AutoResult:
    """For ``config``'s task set and a FLOPs budget (FLOPs per example, or a baseline's name
    such as ``"hard-sharing"``): the baselines, random architectures and fusion, routing and
    partition searches within it, one cross-space front and the recommended model
    (``result.recommended``, a run folder in ``out/recommended``). Rerun to resume.

    >>> answer = sharenas.auto("configs/census-income.yaml", "runs/auto", "hard-sharing")
    """
    from sharenas.runs.auto import auto as run_auto

    resolved = _config(config, overrides)
    return run_auto(
        resolved, Path(out), str(budget), hours=hours, eta=eta, seeds=seeds, progress=progress
    )


def load_run(path: str | Path) -> result.Run:
    """A finished run folder (a training run or a search's ``search/`` folder): its config,
    metrics and delivered model."""
    return result.open_run(Path(path))
