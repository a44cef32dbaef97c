"""The ``sharenas`` command: a thin layer over the Python API.

Errors caused by input are printed without a traceback and exit with status 2.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

import sharenas
from sharenas.config import apply_overrides, build_config, dump_config, load_config
from sharenas.data import create_dataset, dataset_names, get_dataset_class
from sharenas.data.registry import DatasetBuilder
from sharenas.errors import SharenasError
from sharenas.report.datasets import summarize

app = typer.Typer(
    name="sharenas",
    help="Neural architecture search for multi-task learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
datasets_app = typer.Typer(help="List, fetch and inspect datasets.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect configs.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: --set KEY=VALUE (repeatable)."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder with dataset files you already have."),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"sharenas {sharenas.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
        force=True,
    )


def _dataset_from(
    target: str, overrides: list[str] | None, data_dir: Path | None
) -> DatasetBuilder:
    """A builder from a dataset name (overrides relative to its config) or a YAML config file."""
    path = Path(target)
    if path.suffix in (".yaml", ".yml"):
        extra = [*(overrides or []), *([f"data.data_dir={data_dir}"] if data_dir else [])]
        return create_dataset(load_config(path, extra).data)
    get_dataset_class(target)  # a clear error for an unknown name
    raw: dict[str, Any] = apply_overrides({"name": target}, overrides)
    if data_dir is not None:
        raw["data_dir"] = str(data_dir)
    return create_dataset(build_config({"data": raw}, source="dataset options").data)


@datasets_app.command("list")
def datasets_list() -> None:
    """Every registered dataset: tasks, sizes, cached or not, source and licence."""
    table = Table(title="sharenas datasets", show_lines=True)
    for column in ("name", "tasks", "sizes (train/val/test)", "cached", "source", "license"):
        table.add_column(column, overflow="fold")
    for name in dataset_names():
        cls = get_dataset_class(name)
        try:
            builder = cls(cls.config_class())  # type: ignore[call-arg]
        except ValidationError:
            builder = None
        if builder is None:
            tasks, sizes, cached = "declared in the config (data.targets)", "from the file", "-"
        else:
            tasks = "\n".join(f"{t.name}: {t.describe()}" for t in builder.tasks())
            declared = builder.split_sizes()
            sizes = "/".join(f"{n:,}" for n in declared.values()) if declared else "from the files"
            cached = "yes" if builder.is_cached() else "no"
        table.add_row(name, tasks, sizes, cached, cls.source, cls.license)
    console.print(table)


@datasets_app.command("fetch")
def datasets_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name (see `sharenas datasets list`).")],
    set_: SetOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Download (or generate) a dataset into the cache and verify it."""
    builder = _dataset_from(name, set_, data_dir)
    with console.status(f"fetching {builder.name}…"):
        builder.fetch()
    console.print(f"[green]✓[/] {builder.name} is cached under {escape(str(builder.cache_dir))}")


@datasets_app.command("show")
def datasets_show(
    target: Annotated[str, typer.Argument(help="Dataset name, or a YAML config file.")],
    set_: SetOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Load a task set (fetching it if needed) and print its splits and targets."""
    builder = _dataset_from(target, set_, data_dir)
    with console.status(f"loading {builder.name}…"):
        data = builder.load()
    sizes = ", ".join(f"{split} {n:,}" for split, n in data.sizes().items())
    console.print(f"[bold]{data.name}[/]: {builder.description}")
    shape = " (multi-domain: every task has its own rows)" if data.shape == "multi-domain" else ""
    console.print(f"input: {data.input_spec.describe()}; splits: {sizes}{shape}")
    table = Table(title=f"{data.name} targets")
    rows = summarize(data)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    console.print(table)
    for task, note in data.notes.items():
        console.print(f"{task}: {escape(note)}")


ArchOption = Annotated[
    str | None,
    typer.Option("--arch", help="Architecture name, or an arch.json (default: model.arch)."),
]


@app.command("train")
def train_command(
    config: Annotated[Path, typer.Argument(help="A YAML config file.")],
    arch: ArchOption = None,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Overrides the config's seed.")] = None,
    smoke: Annotated[
        bool, typer.Option("--smoke", help="A seconds-long run: 2 epochs of 2 batches on 128 rows.")
    ] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="A single-task run folder: fills delta_mtl.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Train an architecture and write a run folder (config, arch.json, history, checkpoint,
    metrics.json)."""
    from sharenas.engine.run import default_run_dir, resolve_run_config, train

    overrides = [*(set_ or []), *([f"seed={seed}"] if seed is not None else [])]
    resolved = resolve_run_config(config, arch, overrides)
    run_dir = out or default_run_dir(resolved)
    record = train(
        resolved, run_dir, resume=resume, smoke=smoke, reference=reference, progress=not quiet
    )
    _print_runs([record | {"run": str(run_dir)}])
    console.print(f"run folder: {escape(str(run_dir))}")


def _print_runs(records: list[dict[str, Any]]) -> None:
    from sharenas.report.runs import table_rows

    columns, rows = table_rows(records)
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("search")
def search_command(
    config: Annotated[Path, typer.Argument(help="A YAML config file (its search section).")],
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Search folder.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Overrides the config's seed.")] = None,
    smoke: Annotated[bool, typer.Option("--smoke", help="A seconds-long search.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the search in --out.")] = False,
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines/--no-baselines", help="Train search.baselines with the same budget."
        ),
    ] = True,
    finetune: Annotated[
        int, typer.Option("--finetune", min=0, help="Then fine-tune the derived network N epochs.")
    ] = 0,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Then train the derived architecture from scratch.")
    ] = False,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="partition: Optuna storage URL (default: SQLite in --out)."),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="partition: the study's name in the storage.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="partition: worker processes.")
    ] = None,
) -> None:
    """Search how the tasks share (fusion: MTL-NAS; routing: MTNAS; partition: Feature
    Partitioning), then compare with the hand-designed baselines (partition: its Pareto front
    against share-all, independent and single-task)."""
    from sharenas.search.session import search

    overrides = [*(set_ or []), *([f"seed={seed}"] if seed is not None else [])]
    study_options = {"storage": storage, "name": study, "workers": workers}
    overrides += [f"search.study.{k}={v}" for k, v in study_options.items() if v is not None]
    loaded = load_config(config, overrides)
    given = [
        f"--{k if k != 'name' else 'study'}" for k, v in study_options.items() if v is not None
    ]
    if given and (loaded.search is None or loaded.search.space != "partition"):
        raise SharenasError(
            f"{', '.join(given)} apply to the partition search; {config} searches the "
            f"{loaded.search.space if loaded.search else 'fusion'} space."
        )
    outcome = search(
        loaded,
        out,
        resume=resume,
        smoke=smoke,
        baselines=baselines,
        finetune=finetune,
        retrain=retrain,
    )
    record = outcome.record
    if record["space"] == "partition":
        table = Table(title=f"{record['dataset']}: Pareto front and references")
        for column in outcome.comparison[0] if outcome.comparison else []:
            table.add_column(column)
        for row in outcome.comparison:
            table.add_row(*row.values())
        console.print(table)
        files = {k: escape(str(v)) for k, v in outcome.files.items()}
        console.print(
            f"{record['trials']} partitions evaluated ({record['strategy']}, "
            f"{record['evaluator']}); front plot: {files['pareto']}; partitions: "
            f"{files['partitions']}; report: {files['report']}"
        )
        return
    _print_runs(outcome.comparison)
    if record["space"] == "routing":
        inherited = ", ".join(f"{t} {v:.4g}" for t, v in record["inherited_primary"].items())
        console.print(
            f"route ({record['strategy']}): {escape(record['route'])}\n"
            f"inherited weights: {inherited}; delivered: {record['derive']}; "
            f"cost {record['relative_cost']:.2f} × hard sharing"
        )
    else:
        gap = ", ".join(f"{t} {v:+.4f}" for t, v in record["search_evaluation_gap"].items())
        console.print(
            f"edges kept: {record['edges_kept']} of {record['candidate_edges']}; "
            f"search-evaluation gap (derived − supernet): {gap}"
        )
    for label in ("finetuned", "retrained"):
        if label in record:
            scores = ", ".join(f"{t} {v:.4g}" for t, v in record[label]["primary"].items())
            console.print(f"{label}: {scores}")
    files = {k: escape(str(v)) for k, v in outcome.files.items()}
    console.print(f"architecture diagram: {files['diagram']}")
    console.print(f"search plot: {files['history']}; report: {files['report']}, {files['chart']}")


@app.command("evaluate")
def evaluate_command(
    run: Annotated[Path, typer.Argument(help="A run folder.")],
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
) -> None:
    """Recompute a run's metrics from its best checkpoint."""
    from sharenas.engine.run import evaluate_run

    if split not in ("train", "val", "test"):
        raise SharenasError(f"--split {split!r}: choose train, val or test.")
    results = evaluate_run(run, split)
    table = Table(title=f"{run} ({split})")
    for column in ("task", "metric", "value"):
        table.add_column(column)
    for task, metrics in results.items():
        for metric, value in metrics.items():
            table.add_row(task, metric, f"{value:.6g}")
    console.print(table)


@app.command("report")
def report_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to compare.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md and report.png.")] = (
        Path("report")
    ),
) -> None:
    """Compare runs: a Markdown table and a PNG chart (Δ_MTL against a single-task run among
    them)."""
    from sharenas.report.runs import read_metrics, with_delta, write_report

    _, md, png = write_report(runs, out)
    _print_runs(with_delta([read_metrics(r) for r in runs]))
    console.print(f"wrote {escape(str(md))} and {escape(str(png))}")


@config_app.command("show")
def config_show(
    file: Annotated[Path, typer.Argument(help="A YAML config file.")],
    set_: SetOption = None,
) -> None:
    """Print the resolved config, defaults included."""
    console.print(dump_config(load_config(file, set_)), markup=False, highlight=False)


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except SharenasError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
