"""A whole search session, the API behind ``sharenas search``: search, then train the baselines
with the same budget, then write the comparison report and the pictures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sharenas.cache import write_json_atomic
from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.engine.distributed import is_main_process
from sharenas.errors import SharenasError
from sharenas.report.reading import reading
from sharenas.report.runs import read_metrics, table_rows, with_delta, write_report
from sharenas.report.search_summary import figure_lines, intro_lines
from sharenas.runs.folder import CHECKPOINT, METRICS, check_resume, with_arch, with_search
from sharenas.runs.lock import folder_lock
from sharenas.runs.oneshot import SUPERNET, run_oneshot_search
from sharenas.runs.partition import check_storage
from sharenas.runs.partition_session import partition_session
from sharenas.runs.random_archs import RANDOM, train_random
from sharenas.runs.random_search import CANDIDATES
from sharenas.runs.result import SearchResult, open_run
from sharenas.runs.smoke import default_folder, smoke_config
from sharenas.runs.training import load_data, train


def _figures(space: str, arch: dict[str, Any], history: Path, folder: Path) -> dict[str, Path]:
    """The space's pictures: its architecture diagram and its search history."""
    if space == "routing":
        from sharenas.report.routing import route_diagram, search_history_plot

        return {
            "architecture diagram": route_diagram(arch, folder / "routes.png"),
            "search plot": search_history_plot(history, folder / "search.png"),
        }
    from sharenas.report.fusion import architecture_diagram, gate_history_plot

    return {
        "architecture diagram": architecture_diagram(arch, folder / "architecture.png"),
        "search plot": gate_history_plot(history, folder / "gates.png"),
    }


def train_baselines(config: Config, folder: Path, data: TaskSetData, progress: bool) -> list[Path]:
    """``search.baselines`` trained with the search's data, seed and budget (finished ones are
    kept, unfinished ones resumed)."""
    assert config.search is not None
    runs = []
    for arch in config.search.baselines or []:
        run_dir = folder / "baselines" / arch
        if arch == RANDOM:
            runs += train_random(config, run_dir, data, progress)
            continue
        if not (run_dir / METRICS).exists():
            train(
                with_arch(config, arch),
                run_dir,
                resume=(run_dir / CHECKPOINT).exists(),
                data=data,
                progress=progress,
                label=f"baseline {arch}",
            )
        runs.append(run_dir)
    return runs


def _fill_delta(runs: list[Path]) -> list[dict[str, Any]]:
    """Δ_MTL against the single-task baseline, written into every run's metrics.json."""
    records = with_delta([read_metrics(r) for r in runs])
    for record in records:
        if record.get("delta_mtl") is not None:
            path = Path(record["run"]) / METRICS
            stored = json.loads(path.read_text())
            write_json_atomic(path, {**stored, "delta_mtl": record["delta_mtl"]})
    return records


def refuse_old_layout(folder: Path) -> None:
    """A clear error for a fusion or routing search folder written before the one-loop layout
    (``search/search_checkpoint.pt``, no ``search/supernet/``): this version cannot continue
    its checkpoint, whose state had another shape."""
    old = folder / "search" / "search_checkpoint.pt"
    if old.exists() and not (folder / "search" / SUPERNET).exists():
        raise SharenasError(
            f"--resume {folder}: this search was started by an earlier sharenas ({old.name}, "
            "before the search/supernet/ layout), whose checkpoint this version cannot "
            "continue; its history (search/search_history.jsonl) stays readable. Start the "
            "search again with another --out."
        )


def search(
    config: Config,
    out: Path | None = None,
    *,
    resume: bool = False,
    smoke: bool = False,
    baselines: bool = True,
    progress: bool = True,
    callbacks: list[Any] | None = None,
    data: TaskSetData | None = None,
) -> SearchResult:
    """Run ``config``'s search, deliver its model, and compare it with ``search.baselines``
    trained with the same budget (partition: its front against share-all, independent and
    single-task); ``data``: the task set, already loaded."""
    if smoke:
        config = smoke_config(config)
    config = with_search(config)
    assert config.search is not None
    space = config.search.space
    folder = Path(out) if out is not None else default_folder(config, space, smoke)
    inner = folder / "search" / ("" if space == "partition" else SUPERNET)
    if resume:
        refuse_old_layout(folder)
    random = folder / "search" / CANDIDATES / "config.yaml"  # the random search's record
    check_resume(folder, resume, config, [inner / "config.yaml", random])
    if space == "partition":
        check_storage(config)
    with folder_lock(folder):
        data = load_data(config, data)
        if space == "partition":
            return partition_session(config, folder, data, resume)
        return _oneshot_session(config, folder, data, resume, baselines, progress, callbacks)


def _oneshot_session(
    config: Config,
    folder: Path,
    data: TaskSetData,
    resume: bool,
    baselines: bool,
    progress: bool,
    callbacks: list[Any] | None,
) -> SearchResult:
    """A fusion or routing search in ``folder/search``, then the baselines and the report."""
    assert config.search is not None
    space = config.search.space
    record, note = run_oneshot_search(
        config, folder / "search", resume=resume, data=data, callbacks=callbacks, progress=progress
    )
    runs = [folder / "search"]
    if baselines:
        runs += train_baselines(config, folder, data, progress)
    if not is_main_process():  # under torchrun, rank 0 alone writes the report
        return SearchResult(folder, record, [], None, notes=[note])
    comparison = _fill_delta(runs)
    arch = json.loads((folder / "search" / "arch.json").read_text())
    history = folder / "search" / SUPERNET / "history.jsonl"
    figures = _figures(space, arch, history, folder) if history.exists() else {}
    said = reading(comparison)
    _, markdown, chart = write_report(
        runs,
        folder,
        title=f"{config.data.name}: {space} search against the hand-designed baselines",
        intro=intro_lines(config, data.sizes(), record),
        closing=[
            *figure_lines(figures, folder),
            *_route_lines(space, arch),
            *([said] if said else []),
        ],
    )
    files = {"report": markdown, "chart": chart, **figures}
    notes = [note, *_derived_lines(record), *([said] if said else [])]
    run = open_run(folder / "search")
    table = table_rows(comparison)
    return SearchResult(folder, record, comparison, run, files, notes, table)


def _route_lines(space: str, arch: dict[str, Any]) -> list[str]:
    """A routing search's route in words, for report.md."""
    if space != "routing" or "layers_count" not in arch:
        return []
    from sharenas.report.routing import route_words

    return ["## The searched route, in words", "\n".join(route_words(arch))]


def _derived_lines(record: dict[str, Any]) -> list[str]:
    lines = []
    for label in ("finetuned", "retrained"):
        if label in record:
            scores = ", ".join(f"{t} {v:.4g}" for t, v in record[label]["primary"].items())
            lines.append(f"{label}: {scores}")
    return lines
