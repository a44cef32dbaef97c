"""A fusion search run: search the gates, derive, evaluate without retraining, write the folder.

The folder holds ``config.yaml``, ``search_history.jsonl``, ``search_checkpoint.pt``,
``arch.json`` (every candidate edge with its final probability and whether it is kept) and
``metrics.json`` (the continuous supernet's and the derived network's test metrics, their
difference, the search-evaluation gap, parameters, FLOPs and search time).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sharenas.architectures.base import fusion_space
from sharenas.cache import write_bytes_atomic, write_json_atomic
from sharenas.config import Config, dump_config
from sharenas.data.base import TaskSetData
from sharenas.engine.evaluate import evaluate, primary_metrics, to_device
from sharenas.engine.run import task_handlers, train, with_arch
from sharenas.resources import count_parameters, flops_per_example
from sharenas.search.derive import finetune_derived
from sharenas.search.gradient import CHECKPOINT, GradientSearch, GradientSearchConfig
from sharenas.search.run_folder import search_data
from sharenas.spaces.fusion import FusionSpaceConfig


def run_fusion_search(
    config: Config,
    out: Path,
    space: FusionSpaceConfig | None = None,
    search: GradientSearchConfig | None = None,
    resume: bool = False,
    data: TaskSetData | None = None,
    callbacks: list[Any] | None = None,
    finetune: int = 0,
    retrain: bool = False,
) -> dict[str, Any]:
    """Search, derive and evaluate; returns the metrics record written to ``metrics.json``."""
    import torch

    defaults = config.search
    space = space or (defaults.fusion if defaults else FusionSpaceConfig())
    search = search or (defaults.gradient if defaults else GradientSearchConfig())
    out = Path(out)
    began = time.perf_counter()
    data = search_data(
        config, out, resume=resume, data=data, search="fusion", checkpoint=CHECKPOINT
    )
    torch.manual_seed(config.seed)
    fusion = fusion_space(task_handlers(data), data.input_spec, config.model, space)
    handlers = fusion.tasks
    supernet = fusion.supernet()
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out / "config.yaml", dump_config(config).encode())
    strategy = GradientSearch(
        supernet, handlers, data, config.train, search, out, config.seed, callbacks
    )
    history = strategy.run(resume=resume)
    search_seconds = time.perf_counter() - began

    device = strategy.device
    batch = config.train.eval_batch_size
    supernet.gate_mode = "deterministic"
    continuous = evaluate(supernet, handlers, data.test, batch, device)
    genotype = fusion.derive(supernet)
    derived = fusion.inherit(supernet, genotype).to(device)
    discrete = evaluate(derived, handlers, data.test, batch, device)
    gap = {h.name: discrete[h.name][h.primary] - continuous[h.name][h.primary] for h in handlers}
    probabilities = supernet.probabilities().detach().cpu().tolist()
    kept = set(genotype.edges)
    write_json_atomic(
        out / "arch.json",
        {
            "format": "sharenas-arch/1",
            "kind": "genotype",
            "space": "fusion",
            "space_config": space.model_dump(mode="json"),
            "stages": {name: len(specs) for name, specs in fusion.stage_specs.items()},
            **genotype.to_dict(),
            "candidates": [
                {"edge": e.key(), "probability": p, "kept": e in kept}
                for e, p in zip(supernet.edges, probabilities, strict=True)
            ],
        },
    )
    x = to_device(data.val.example(2), device)
    record = {
        "dataset": config.data.name,
        "arch": "fusion (searched)",
        "space": "fusion",
        "strategy": "gradient",
        "seed": config.seed,
        "tasks": discrete,
        "primary": primary_metrics(discrete, handlers),
        "supernet_tasks": continuous,
        "supernet_primary": primary_metrics(continuous, handlers),
        "search_evaluation_gap": gap,
        "primary_metric": {h.name: h.primary for h in handlers},
        "higher_is_better": {h.name: h.higher_is_better for h in handlers},
        "edges_kept": len(genotype.edges),
        "candidate_edges": len(supernet.edges),
        "params": count_parameters(derived),
        "flops_per_example": flops_per_example(derived, x),
        "supernet_params": count_parameters(supernet),
        "supernet_flops_per_example": flops_per_example(supernet, x),
        "search_seconds": round(search_seconds, 3),
        "train_seconds": round(search_seconds, 3),
        "epochs": len(history),
        "entropy_weight": search.entropy_weight,
    }
    if finetune:
        record["finetuned"] = finetune_derived(
            config, derived, handlers, data, finetune, out / "finetune"
        )
    if retrain:
        genotype = json.loads((out / "arch.json").read_text())
        retrained = train(
            with_arch(config, "fusion", genotype),
            out / "retrain",
            data=data,
            progress=False,
            resume=(out / "retrain" / "checkpoint.pt").exists(),
        )
        record["retrained"] = {
            "tasks": retrained["tasks"],
            "primary": retrained["primary"],
            "train_seconds": retrained["train_seconds"],
        }
    write_json_atomic(out / "metrics.json", record)
    return record
