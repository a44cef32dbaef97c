"""A whole search session, the API behind ``sharenas search``: search, then train the baselines
with the same budget, then write the comparison report and the pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.cache import write_json_atomic
from sharenas.config import Config
from sharenas.data.base import TaskSetData
from sharenas.engine.distributed import is_main_process
from sharenas.engine.progress import working
from sharenas.errors import SharenasError
from sharenas.report.reading import reading
from sharenas.report.runs import table_rows, write_report
from sharenas.report.search_summary import figure_lines, intro_lines
from sharenas.report.space_figures import space_figures, space_words
from sharenas.run_files import read_record
from sharenas.runs.folder import (
    ARCH,
    CONFIG,
    HISTORY,
    METRICS,
    check_resume,
    with_arch,
    with_search,
)
from sharenas.runs.lock import folder_lock
from sharenas.runs.oneshot import DERIVED_LABELS, SUPERNET, run_oneshot_search
from sharenas.runs.out_folder import check_folder, data_inputs
from sharenas.runs.partition import check_storage
from sharenas.runs.random_archs import RANDOM, train_random
from sharenas.runs.random_search import CANDIDATES
from sharenas.runs.records import read_metrics, with_delta
from sharenas.runs.result import SearchResult, open_run
from sharenas.runs.smoke import default_folder, replace_smoke_run, smoke_config, titled
from sharenas.runs.training import ensure_trained, load_data
from sharenas.search.storage import password_hidden
from sharenas.spaces.spec import SearchKind
from sharenas.workflows.partition_session import partition_session


def train_baselines(config: Config, folder: Path, data: TaskSetData, progress: bool) -> list[Path]:
    """``search.baselines`` trained with the search's data, seed and budget (finished ones are
    kept, unfinished ones resumed)."""
    runs = []
    for arch in config.searched.baselines or []:
        run_dir = folder / "baselines" / arch
        if arch == RANDOM:  # the random strategy's draws, not an architecture
            runs += train_random(config, run_dir, data, progress)
            continue
        options = {"data": data, "progress": progress, "label": f"baseline {arch}"}
        runs.append(ensure_trained(with_arch(config, arch), run_dir, **options))
    return runs


def _fill_delta(runs: list[Path]) -> list[dict[str, Any]]:
    """Δ_MTL against the single-task baseline, written into every run's metrics.json."""
    records = with_delta([read_metrics(r) for r in runs])
    for record in records:
        if record.get("delta_mtl") is not None:
            path = Path(record["run"]) / METRICS
            stored = read_record(path)
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
    figures: bool = True,
    deliver: bool = True,
) -> SearchResult:
    """Run ``config``'s search, deliver its model, and compare it with ``search.baselines``
    trained with the same budget (partition: its front against share-all, independent and
    single-task); ``data``: the task set, already loaded; without ``figures`` the report of a
    search is text alone (``sharenas auto``'s units: its own report has the figure);
    without ``deliver`` a study's choice is not trained (resume with it to train it)."""
    if smoke:
        config = smoke_config(config)
    config = with_search(config)
    spec = config.searched.space_spec
    folder = Path(out) if out is not None else default_folder(config, spec.name, smoke)
    if smoke and not resume:
        replace_smoke_run(folder, "search")  # the same smoke command can run again
    check_folder(folder, "search", data_inputs(config))  # a new, empty or search folder only
    if spec.searched_by is SearchKind.STUDY:
        with password_hidden(config.searched.study.storage):  # in every error raised
            check_resume(folder, resume, config, [folder / "search" / CONFIG])
            check_storage(config, folder / "search", resume)  # before the data, writing nothing
            with folder_lock(folder):
                return partition_session(
                    config, folder, load_data(config, data), resume, deliver, figures
                )
    if resume:
        refuse_old_layout(folder)
    recorded = [folder / "search" / SUPERNET / CONFIG, folder / "search" / CANDIDATES / CONFIG]
    check_resume(folder, resume, config, recorded)
    with folder_lock(folder):
        data = load_data(config, data)
        shown = (progress, figures)
        return _oneshot_session(config, folder, data, resume, baselines, shown, callbacks)


def _oneshot_session(
    config: Config,
    folder: Path,
    data: TaskSetData,
    resume: bool,
    baselines: bool,
    shown: tuple[bool, bool],
    callbacks: list[Any] | None,
) -> SearchResult:
    """A one-shot search in ``folder/search``, then the baselines and the report; ``shown``:
    (progress bars, figures)."""
    space, (progress, with_figures) = config.searched.space, shown
    record, note = run_oneshot_search(
        config, folder / "search", resume=resume, data=data, callbacks=callbacks, progress=progress
    )
    runs = [folder / "search"]
    if baselines:
        runs += train_baselines(config, folder, data, progress)
    if not is_main_process():  # under torchrun, rank 0 alone writes the report
        return SearchResult(folder, record, [], None, notes=[note])
    comparison = _fill_delta(runs)
    arch = read_record(folder / "search" / ARCH)
    history = folder / "search" / SUPERNET / HISTORY
    said = reading(comparison)
    with working("writing the report and its figures", progress):
        figures = space_figures(space, arch, history, folder) if with_figures else {}
        _, markdown, chart = write_report(
            runs,
            folder,
            title=titled(
                f"{config.data.name}: {space} search against the hand-designed baselines", config
            ),
            intro=intro_lines(config, data.sizes(), record),
            closing=[
                *figure_lines(figures, folder),
                *space_words(space, arch),
                *([said] if said else []),
            ],
            figure=with_figures,
        )
    files = {"report": markdown, **({"chart": chart} if chart else {}), **figures}
    notes = [note, *_derived_lines(record), *([said] if said else [])]
    run = open_run(folder / "search")
    table = table_rows(comparison, f"{config.data.name}: the search against the baselines")
    return SearchResult(folder, record, comparison, run, files, notes, table)


def _derived_lines(record: dict[str, Any]) -> list[str]:
    lines = []
    for label in dict.fromkeys(DERIVED_LABELS.values()):  # each label once
        if label in record:
            scores = ", ".join(f"{t} {v:.4g}" for t, v in record[label]["primary"].items())
            lines.append(f"{label}: {scores}")
    return lines
