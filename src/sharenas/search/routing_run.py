"""A routing search run (MTNAS): search the routes, derive the most probable one, evaluate it
with inherited weights, then fine-tune or retrain it (``search.derive``), and write the folder.

The folder holds ``config.yaml``, ``search_history.jsonl``, ``search_checkpoint.pt``,
``arch.json`` (the derived genotype, with the final probability of every option of every choice)
and ``metrics.json`` (the delivered model's test metrics, the inherited-weights metrics, the
retrained or fine-tuned ones, FLOPs per example, parameters and search time).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from sharenas.architectures.base import routing_space
from sharenas.cache import write_bytes_atomic, write_json_atomic
from sharenas.config import Config, dump_config
from sharenas.data.base import TaskSetData
from sharenas.engine.evaluate import evaluate, primary_metrics, to_device
from sharenas.engine.run import task_handlers, train, with_arch
from sharenas.errors import SharenasError
from sharenas.resources import count_parameters, flops_per_example
from sharenas.search.derive import finetune_derived
from sharenas.search.gumbel import GumbelSearch
from sharenas.search.reinforce import ReinforceSearch
from sharenas.search.route_search import CHECKPOINT, RouteSearch
from sharenas.search.run_folder import search_data

STRATEGIES: dict[str, type[RouteSearch]] = {"reinforce": ReinforceSearch, "gumbel": GumbelSearch}


def run_routing_search(
    config: Config,
    out: Path,
    resume: bool = False,
    data: TaskSetData | None = None,
    callbacks: list[Any] | None = None,
    derive: str | None = None,
    derive_epochs: int | None = None,
) -> dict[str, Any]:
    """Search, derive, evaluate and (per ``derive``) fine-tune or retrain; returns the record
    written to ``metrics.json``."""
    if config.search is None or config.search.space != "routing":
        raise SharenasError("run_routing_search needs a config whose search.space is 'routing'.")
    settings = config.search
    strategy_name = settings.strategy or "reinforce"
    derive = derive or settings.derive or "retrain"
    epochs = derive_epochs or settings.derive_epochs or config.train.epochs
    out = Path(out)
    began = time.perf_counter()
    data = search_data(
        config, out, resume=resume, data=data, search="routing", checkpoint=CHECKPOINT
    )
    torch.manual_seed(config.seed)
    handlers = task_handlers(data)
    space = routing_space(handlers, data.input_spec, config.model, settings.routing)
    supernet = space.supernet()
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "config.yaml", dump_config(config).encode())
    strategy = STRATEGIES[strategy_name](
        space,
        supernet,
        handlers,
        data,
        config.train,
        getattr(settings, strategy_name),
        out,
        config.seed,
        callbacks,
    )
    history = strategy.run(resume=resume)
    search_seconds = time.perf_counter() - began

    device = strategy.device
    genotype = strategy.most_probable()
    derived = space.inherit(supernet, genotype)
    inherited = evaluate(derived, handlers, data.test, config.train.eval_batch_size, device)
    arch = {
        "format": "sharenas-arch/1",
        "kind": "genotype",
        "space": "routing",
        "strategy": strategy_name,
        "space_config": settings.routing.model_dump(mode="json"),
        "layers_count": space.layers,
        **genotype.to_dict(),
        "choices": {
            c.key: {
                "options": [list(o) if isinstance(o, tuple) else o for o in c.options],
                "probabilities": [float(p) for p in probs.detach()],
            }
            for c, probs in zip(strategy.choices, strategy.policy.probabilities(), strict=True)
        },
    }
    write_json_atomic(out / "arch.json", arch)
    x = to_device(data.val.example(2), device)
    record: dict[str, Any] = {
        "dataset": config.data.name,
        "arch": "routing (searched)",
        "space": "routing",
        "strategy": strategy_name,
        "seed": config.seed,
        "inherited_tasks": inherited,
        "inherited_primary": primary_metrics(inherited, handlers),
        "primary_metric": {h.name: h.primary for h in handlers},
        "higher_is_better": {h.name: h.higher_is_better for h in handlers},
        "genotype": genotype.to_dict(),
        "route": space.most_probable_summary(genotype),
        "relative_cost": space.relative_cost(genotype, strategy.layer_flops),
        "params": count_parameters(derived),
        "flops_per_example": flops_per_example(derived, x),
        "supernet_params": count_parameters(supernet),
        "search_seconds": round(search_seconds, 3),
        "epochs": len(history),
        "derive": derive,
    }
    delivered, seconds = inherited, search_seconds
    if derive == "finetune":
        record["finetuned"] = finetune_derived(
            config, derived, handlers, data, epochs, out / "finetune"
        )
        delivered = record["finetuned"]["tasks"]
        seconds += record["finetuned"]["train_seconds"]
    elif derive == "retrain":
        retrain_config = with_arch(config, "routing", json.loads((out / "arch.json").read_text()))
        retrain_config = retrain_config.model_copy(
            update={"train": config.train.model_copy(update={"epochs": epochs})}
        )
        retrained = train(
            retrain_config,
            out / "retrain",
            data=data,
            progress=False,
            resume=(out / "retrain" / "checkpoint.pt").exists(),
        )
        record["retrained"] = {
            "tasks": retrained["tasks"],
            "primary": retrained["primary"],
            "epochs": epochs,
            "train_seconds": retrained["train_seconds"],
            "wall_seconds": retrained["wall_seconds"],
        }
        delivered = retrained["tasks"]
        seconds += retrained["train_seconds"]
    record["tasks"] = delivered
    record["primary"] = primary_metrics(delivered, handlers)
    record["train_seconds"] = round(seconds, 3)
    write_json_atomic(out / "metrics.json", record)
    return record
