"""A one-shot search run (fusion: MTL-NAS gradient; routing: MTNAS REINFORCE or Gumbel): the
strategy's step trains the supernet through the trainer, the architecture is derived, and the
delivered model is kept as is (``search.derive: none``), fine-tuned, retrained, or both.

The folder is the delivered model's run folder (``config.yaml`` naming the searched
architecture, ``arch.json`` with the genotype and the backbone, ``best.pt``, ``metrics.json``
with test metrics), beside ``supernet/`` (the search's history and checkpoint) and
``finetune/`` or ``retrain/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharenas.cache import write_json_atomic
from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.engine.checkpoint import save_checkpoint
from sharenas.engine.evaluate import evaluate, primary_metrics, relative_score
from sharenas.engine.trainer import Trainer, TrainOutcome
from sharenas.resources import count_parameters
from sharenas.runs.folder import (
    BEST,
    CHECKPOINT,
    CONFIG,
    METRICS,
    SUPERNET,
    copy_delivered,
    refuse_reuse,
    searched_arch,
    with_arch,
    with_search,
    write_run_files,
)
from sharenas.runs.random_search import CANDIDATES, run_random_search
from sharenas.runs.training import load_data, metrics_record, start_heads, task_handlers, train
from sharenas.search.base import SearchStep
from sharenas.search.budget import check_reachable
from sharenas.search.registry import create_strategy
from sharenas.search.strategy import OneShotStrategy
from sharenas.spaces.base import SupernetSpace

# metrics.json's key of the fine-tune or retrain record
DERIVED_LABELS = {
    "finetune": "finetuned",
    "retrain": "retrained",
    "best": "retrained",
    "both": "retrained",  # and "finetuned" beside it
}


def search_data(config: Config, out: Path, resume: bool, data: TaskSetData | None) -> TaskSetData:
    """The task set to search, after refusing a folder in use (without ``resume``). A
    multi-domain set is searched one task's batch at a time (its weight, architecture and
    policy steps each on one task's rows)."""
    refuse_reuse(out, resume, out / SUPERNET / CHECKPOINT)
    return load_data(config, data)


def _save_weights(model: nn.Module, folder: Path) -> None:
    save_checkpoint({"epoch": -1, "model": model.state_dict()}, folder / BEST)


def derive(
    config: Config, derived: nn.Module, out: Path, data: TaskSetData
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Deliver ``derived`` (inherited weights) per ``search.derive``: kept as is, fine-tuned, its
    architecture retrained from scratch, or (``best``) retrained and then whichever of the two
    scores better on validation kept; its weights become ``out/best.pt``. Returns (the
    delivered config, the fine-tune or retrain record, or None when the inherited weights are
    delivered)."""
    how = config.searched.derive
    if how == "both":
        return _finetune_and_retrain(config, derived, out, data)
    epochs = config.searched.derive_epochs or config.train.epochs
    delivered = config.model_copy(
        update={"train": config.train.model_copy(update={"epochs": epochs})}
    )
    if how == "none":
        _save_weights(derived, out)
        return {"config": config}, None
    fine_tune = how == "finetune"
    folder = out / ("finetune" if fine_tune else "retrain")
    record = train(
        delivered,
        folder,
        data=data,
        progress=False,
        resume=(folder / CHECKPOINT).exists(),
        model=derived if fine_tune else None,
        label=f"{how} the searched network",
    )
    keys = ("tasks", "primary", "epochs_run", "train_seconds", "wall_seconds")
    extra = {k: record[k] for k in keys} | {"epochs": epochs}
    if how == "best":
        handlers = task_handlers(data)
        device = next(derived.parameters()).device
        batch = config.train.eval_batch_size
        kept = primary_metrics(evaluate(derived, handlers, data.val, batch, device), handlers)
        trained = primary_metrics(record["val"], handlers)
        extra["validation"] = {"inherited": kept, "retrained": trained}
        if relative_score(kept, trained, handlers) > 0:  # the inherited weights win
            _save_weights(derived, out)
            return {"config": config}, extra | {"kept": "inherited"}
        extra["kept"] = "retrained"
    copy_delivered(folder, out, (BEST,))
    return {"config": delivered}, extra


def _finetune_and_retrain(
    config: Config, derived: nn.Module, out: Path, data: TaskSetData
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``search.derive: both``: the inherited weights fine-tuned (``derive_epochs``) in
    ``out/finetune`` and the architecture retrained from scratch (``train.epochs``, the
    baselines' budget) in ``out/retrain``; the retrained network is delivered, and its record
    carries the fine-tuned one under ``finetuned``."""
    settings = config.searched
    tune = settings.model_copy(update={"derive": "finetune"})
    _, finetuned = derive(config.model_copy(update={"search": tune}), derived, out, data)
    fresh = settings.model_copy(update={"derive": "retrain", "derive_epochs": None})
    delivered, retrained = derive(config.model_copy(update={"search": fresh}), derived, out, data)
    assert finetuned is not None and retrained is not None  # both train
    as_given = delivered["config"].model_copy(update={"search": settings})
    return {"config": as_given}, {**retrained, "finetuned": finetuned}


def _derive_seconds(extra: dict[str, Any] | None) -> float:
    """The training time of the derivation (with ``both``, of the fine-tuning too)."""
    records = [extra, (extra or {}).get("finetuned")]
    return sum(r["train_seconds"] for r in records if r)


def _derived_records(how: str, extra: dict[str, Any] | None) -> dict[str, Any]:
    """metrics.json's record of the fine-tuning or retraining (``both``: the two)."""
    if not extra:
        return {}
    finetuned = extra.get("finetuned")
    rest = {k: v for k, v in extra.items() if k != "finetuned"}
    return {DERIVED_LABELS[how]: rest, **({"finetuned": finetuned} if finetuned else {})}


def _search(
    config: Config,
    out: Path,
    data: TaskSetData,
    resume: bool,
    callbacks: list[Any] | None,
    progress: bool,
) -> tuple[Trainer, SearchStep, SupernetSpace, TrainOutcome]:
    """Train the strategy's step over the space's supernet in ``out/supernet``; returns the
    trainer, the step, the space and the epochs run."""
    settings = config.searched
    handlers = task_handlers(data)
    torch.manual_seed(config.seed)
    spec = settings.space_spec
    space = spec.create(handlers, data.input_spec, config.model, spec.settings(settings))
    strategy = create_strategy(str(settings.strategy))
    assert isinstance(strategy, OneShotStrategy)  # run_oneshot_search dispatched on it
    step = strategy.create_step(space, settings.strategy_settings(), settings.max_flops)
    check_reachable(space, settings.max_flops, data.val.example(2))
    write_run_files(out / SUPERNET, config, data)
    trainer = Trainer(
        start_heads(space.supernet(), config, handlers, data),
        handlers,
        data,
        config.train,
        out / SUPERNET,
        seed=config.seed,
        progress=progress,
        callbacks=callbacks,
        step=step,
        label=f"search ({settings.space}, {settings.strategy})",
    )
    outcome = trainer.fit(resume=resume, test=False)
    return trainer, step, space, outcome


def _supernet_is_the_answer(config: Config, space: SupernetSpace, genotype: Any) -> str | None:
    """Why the found network is delivered with the supernet's weights although ``search.derive``
    asks for training (the found network is the supernet, already trained with the budget the
    derivation would use), or None."""
    settings = config.searched
    epochs = settings.derive_epochs or config.train.epochs
    if settings.derive not in ("retrain", "best") or epochs != config.train.epochs:
        return None  # fine-tuning adds epochs: it would not train the same network again
    if not space.is_supernet(genotype):
        return None
    return (
        f"the found network is the supernet, trained for the {epochs} epochs "
        f"'search.derive: {settings.derive}' would train it again"
    )


def _derivation(
    config: Config, space: SupernetSpace, step: SearchStep, genotype: Any
) -> tuple[str, str | None, str | None]:
    """(the derivation to run, why the trained supernet is delivered as is, why inherited
    weights are retrained instead): ``search.derive`` unless one of the two guards applies."""
    derive_as = str(config.searched.derive)
    kept = _supernet_is_the_answer(config, space, genotype)
    undecided = step.undecided() if derive_as == "none" else None
    return ("none" if kept else "retrain" if undecided else derive_as), kept, undecided


def _scores(trainer: Trainer, derived: nn.Module) -> dict[str, Any]:
    """Test metrics of the derived network (inherited weights) and of the supernet, and the
    search-evaluation gap between them."""
    test = trainer.data.test
    inherited, supernet = trainer.evaluate(test, derived), trainer.evaluate(test)
    primary = {
        "inherited": primary_metrics(inherited, trainer.handlers),
        "supernet": primary_metrics(supernet, trainer.handlers),
    }
    return {
        "inherited_tasks": inherited,
        "inherited_primary": primary["inherited"],
        "supernet_tasks": supernet,
        "supernet_primary": primary["supernet"],
        "search_evaluation_gap": {
            t: primary["inherited"][t] - primary["supernet"][t] for t in primary["inherited"]
        },
    }


def run_oneshot_search(
    config: Config,
    out: Path,
    *,
    resume: bool = False,
    data: TaskSetData | None = None,
    callbacks: list[Any] | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], str]:
    """Search, derive, deliver; returns the record written to ``metrics.json`` and a line that
    describes the found architecture."""
    config = with_search(config)
    settings = config.searched
    out = Path(out)
    if not isinstance(create_strategy(str(settings.strategy)), OneShotStrategy):
        refuse_reuse(out, resume, out / CANDIDATES / CONFIG)  # random points from scratch
        return run_random_search(config, out, load_data(config, data), progress)
    data = search_data(config, out, resume, data)
    trainer, step, space, outcome = _search(config, out, data, resume, callbacks, progress)
    epochs = outcome.epochs_run
    # the supernet's training time, summed over resumptions (a finished search resumed keeps it)
    search_seconds = outcome.train_seconds
    genotype = step.delivered()
    derived = space.inherit(trainer.model, genotype).to(trainer.device)
    scores = _scores(trainer, derived)
    arch = {**searched_arch(config, genotype, str(settings.strategy)), **step.arch_details()}
    searched = with_arch(config, settings.space, arch)
    how, kept, undecided = _derivation(config, space, step, genotype)
    if how != settings.derive:
        searched = searched.model_copy(
            update={"search": searched.searched.model_copy(update={"derive": how})}
        )
    delivered, extra = derive(searched, derived, out, data)
    inherited = extra is None or extra.get("kept") == "inherited"
    tasks = scores["inherited_tasks"] if inherited else extra["tasks"]
    record = {
        **metrics_record(delivered["config"], trainer.handlers, tasks),
        "arch": f"{settings.space} (searched)",
        "space": settings.space,
        "strategy": settings.strategy,
        "derive": how,
        **({"derive_skipped": kept} if kept else {}),
        **({"derive_changed": f"{undecided}: retrained, not kept"} if undecided else {}),
        **scores,
        **step.summary(genotype),
        **trainer.resources(derived),
        "supernet_params": count_parameters(trainer.model),
        "supernet_flops_per_example": trainer.resources()["flops_per_example"],
        "search_seconds": round(search_seconds, 3),
        "train_seconds": round(search_seconds + _derive_seconds(extra), 3),
        "epochs": epochs,
        "device": str(trainer.device),
    }
    record |= _derived_records(how, extra)
    write_run_files(out, delivered["config"], data)
    if trainer.rank == 0:
        write_json_atomic(out / METRICS, record)
    return record, step.describe(record)
