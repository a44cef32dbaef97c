"""A partition search session: the study's Pareto front against share-all, independent and
single-task, as a table, a front plot and the partition heat maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.cache import write_bytes_atomic, write_json_atomic
from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.report.partition import (
    delivery_table,
    figure_links,
    front_table,
    pareto_plot,
    partition_heatmaps,
)
from sharenas.run_files import read_record
from sharenas.runs.folder import ARCH, METRICS, PARTITION_DELIVERED, with_arch
from sharenas.runs.partition import run_partition_search
from sharenas.runs.partition_eval import reference_folder, reference_label
from sharenas.runs.result import Run, SearchResult, open_run
from sharenas.runs.smoke import titled
from sharenas.runs.training import ensure_trained


def partition_session(
    config: Config,
    folder: Path,
    data: TaskSetData,
    resume: bool,
    deliver: bool = True,
    figures: bool = True,
) -> SearchResult:
    """Run the study in ``folder/search``, train the chosen point into ``folder/search/model`` (the
    delivered run folder, Δ_MTL against the single-task teachers trained with the same budget,
    or ``search.evaluation.reference``; not without ``deliver``) and write the report (with
    its figures unless ``figures`` is false) beside them."""
    record = run_partition_search(config, folder / "search", resume=resume, data=data)
    run = deliver_chosen(config, folder / "search", data) if deliver else None
    if run is not None:
        record = record_delivery(config, folder / "search", record, run)
    trials = read_record(folder / "search" / "trials.json", list)
    table = front_table(record)
    report = folder / "report.md"
    heading = (
        f"{config.data.name}: partition search ({record['strategy']}, "
        f"{record['evaluator']} evaluation, {record['trials']} partitions)"
    )
    title = f"# {titled(heading, config)}\n\n"
    text = title + table.markdown() + "\n"
    if run is not None:
        text += "\n## The chosen partition, trained (test split)\n\n"
        text += delivery_table(record).markdown() + "\n"
    files = {"report": report}
    if figures:
        files["front plot"] = pareto_plot(record, trials, folder / "pareto.png")
        files["partitions"] = partition_heatmaps(record, folder / "partitions.png")
        text += "\n" + figure_links(files, folder)
    write_bytes_atomic(report, text.encode())
    comparison = table.records()
    note = f"{record['trials']} partitions evaluated ({record['strategy']}, {record['evaluator']})"
    if run is not None:
        scores = ", ".join(f"{t} {v:.4g}" for t, v in run.metrics["primary"].items())
        note += f"; the chosen partition trained with the full budget: test {scores}"
    return SearchResult(folder, record, comparison, run, files, [note], table)


def record_delivery(
    config: Config, study: Path, record: dict[str, Any], run: Run
) -> dict[str, Any]:
    """The search's metrics.json completed with the delivered model: its test metrics, Δ_MTL
    against the single-task teachers (same data, budget and seed) or the reference run, FLOPs
    per example and parameters of the pruned network; beside them the reference's test
    metrics."""
    teachers = read_record(reference_folder(config) / METRICS)
    metrics = run.metrics
    record = {
        **record,
        "primary": metrics["primary"],
        "primary_metric": metrics["primary_metric"],
        "delta_mtl": metrics["delta_mtl"],
        "flops_per_example": metrics["flops_per_example"],
        "params": metrics["params"],
        "delivered": PARTITION_DELIVERED,
        "single_task": {
            "label": reference_label(config),
            "primary": teachers["primary"],
            "flops_per_example": teachers["flops_per_example"],
            "params": teachers["params"],
        },
    }
    write_json_atomic(study / METRICS, record)
    return record


def deliver_chosen(config: Config, study: Path, data: TaskSetData) -> Run | None:
    """The chosen front point (``arch.json``) trained from scratch with the config's budget, as
    a run folder; None when the study found no front."""
    if not (study / ARCH).exists():
        return None
    arch = read_record(study / ARCH)
    model = ensure_trained(
        with_arch(config, arch["space"], arch),
        study / PARTITION_DELIVERED,
        data=data,
        reference=reference_folder(config),
        progress=False,
        label="the chosen partition",
    )
    return open_run(model)
