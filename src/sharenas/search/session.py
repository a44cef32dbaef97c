"""A whole search session, the API behind ``sharenas search``: search, then train the baselines
with the same budget, then write the comparison report and the pictures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sharenas.config import Config, build_config
from sharenas.data import create_dataset
from sharenas.engine.run import smoke_config, train, with_arch
from sharenas.report.fusion import architecture_diagram, gate_history_plot
from sharenas.report.routing import route_diagram, search_history_plot
from sharenas.report.runs import read_metrics, with_delta, write_report
from sharenas.search.fusion_run import run_fusion_search
from sharenas.search.routing_run import run_routing_search


@dataclass
class SearchOutcome:
    record: dict[str, Any]  # the search's metrics.json
    comparison: list[dict[str, Any]]  # the searched model and the baselines, Δ_MTL filled
    files: dict[str, Path] = field(default_factory=dict)


def default_search_dir(config: Config) -> Path:
    space = config.search.space if config.search else "fusion"
    return Path("runs") / f"{config.data.name}-{space}-s{config.seed}"


def search(
    config: Config,
    out: Path | None = None,
    *,
    resume: bool = False,
    smoke: bool = False,
    baselines: bool = True,
    finetune: int = 0,
    retrain: bool = False,
    callbacks: list[Any] | None = None,
) -> SearchOutcome:
    """Run ``config``'s search (fusion: gradient; routing: reinforce or gumbel) and compare it
    with ``search.baselines`` trained with the same budget. ``finetune`` (epochs) and ``retrain``
    override ``search.derive``."""
    if smoke:
        config = smoke_config(config)
    if config.search is None:
        config = build_config({**config.model_dump(mode="json"), "search": {}})
    assert config.search is not None
    folder = Path(out) if out is not None else default_search_dir(config)
    data = create_dataset(config.data).load()
    settings = config.search
    epochs = settings.derive_epochs or config.train.epochs
    if settings.space == "partition":
        return _partition(config, folder, data, resume)
    if settings.space == "routing":
        derive = "retrain" if retrain else "finetune" if finetune else settings.derive
        record = run_routing_search(
            config,
            folder / "search",
            resume=resume,
            data=data,
            callbacks=callbacks,
            derive=derive,
            derive_epochs=finetune or settings.derive_epochs,
        )
    else:
        record = run_fusion_search(
            config,
            folder / "search",
            resume=resume,
            data=data,
            callbacks=callbacks,
            finetune=finetune or (epochs if settings.derive == "finetune" else 0),
            retrain=retrain or settings.derive == "retrain",
        )
    runs = [folder / "search"]
    for arch in (settings.baselines or []) if baselines else []:
        run_dir = folder / "baselines" / arch
        if not (run_dir / "metrics.json").exists():
            train(
                with_arch(config, arch),
                run_dir,
                resume=(run_dir / "checkpoint.pt").exists(),
                data=data,
                progress=False,
            )
        runs.append(run_dir)
    _, markdown, chart = write_report(runs, folder)
    arch = json.loads((folder / "search" / "arch.json").read_text())
    history = folder / "search" / "search_history.jsonl"
    files = {"report": markdown, "chart": chart}
    if settings.space == "routing":
        files["diagram"] = route_diagram(arch, folder / "routes.png")
        files["history"] = search_history_plot(history, folder / "search.png")
    else:
        files["diagram"] = architecture_diagram(arch, folder / "architecture.png")
        files["history"] = gate_history_plot(history, folder / "gates.png")
    return SearchOutcome(record, with_delta([read_metrics(r) for r in runs]), files)


def _partition(config: Config, folder: Path, data: Any, resume: bool) -> SearchOutcome:
    """A partition search: its front against share-all, independent and single-task."""
    from sharenas.report.partition import front_table, pareto_plot, partition_heatmaps
    from sharenas.report.runs import markdown
    from sharenas.search.partition_run import run_partition_search

    record = run_partition_search(config, folder / "search", resume=resume, data=data)
    trials = json.loads((folder / "search" / "trials.json").read_text())
    columns, rows = front_table(record)
    report = folder / "report.md"
    report.write_text(
        f"# {config.data.name}: partition search ({record['strategy']}, "
        f"{record['evaluator']} evaluation, {record['trials']} partitions)\n\n"
        + markdown(columns, rows)
        + "\n"
    )
    files = {
        "report": report,
        "pareto": pareto_plot(record, trials, folder / "pareto.png"),
        "partitions": partition_heatmaps(record, folder / "partitions.png"),
    }
    comparison = [dict(zip(columns, row, strict=True)) for row in rows]
    return SearchOutcome(record, comparison, files)
