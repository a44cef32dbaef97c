"""The ``sharenas`` command: a thin layer over the Python API.

Errors caused by input are printed without a traceback and exit with status 2.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

import sharenas
from sharenas import api, output
from sharenas.config import (
    Config,
    SearchConfig,
    apply_overrides,
    build_config,
    dump_config,
    load_config,
)
from sharenas.data import create_dataset, dataset_names, get_dataset_class
from sharenas.data.builder import DatasetBuilder
from sharenas.errors import DatasetError, SharenasError
from sharenas.log_setup import setup_logging
from sharenas.report.affinity import affinity_table
from sharenas.report.datasets import catalog_table, targets_table
from sharenas.runs.smoke import smoke_title
from sharenas.shipped import copy_config, shipped_configs, shipped_path
from sharenas.spaces import SearchKind, space_specs
from sharenas.tabular import Column, Table, number
from sharenas.workflows.auto_report import facts

app = typer.Typer(
    name="sharenas",
    help="Neural architecture search for multi-task learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
datasets_app = typer.Typer(help="List, fetch and inspect datasets.", no_args_is_help=True)
configs_app = typer.Typer(
    help="The shipped configs: list, copy one to edit, show a resolved config.",
    no_args_is_help=True,
)
config_app = typer.Typer(help="Inspect configs (old name of `configs`).", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(configs_app, name="configs")
app.add_typer(config_app, name="config", hidden=True)

console = output.console
err_console = Console(stderr=True)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: --set KEY=VALUE (repeatable)."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder with dataset files you already have."),
]

QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress display; only warnings and errors.")
]
FormatOption = Annotated[
    str, typer.Option("--format", help="Tables as: table (default), md, json or csv.")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace the --out file if it exists (never an input).")
]


def _quiet(quiet: bool) -> None:
    if quiet:
        setup_logging(err_console, quiet=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"sharenas {sharenas.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Other libraries' INFO lines too.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    setup_logging(err_console, quiet, verbose)


def _dataset_from(
    target: str, overrides: list[str] | None, data_dir: Path | None
) -> DatasetBuilder:
    """A builder from a dataset name (overrides relative to its config), a YAML config file or a
    shipped config's name (a dataset's name wins over a shipped config's)."""
    path = Path(target)
    shipped = target not in dataset_names() and shipped_path(target) is not None
    if path.suffix in (".yaml", ".yml") or path.is_file() or shipped:
        extra = [*(overrides or []), *([f"data.data_dir={data_dir}"] if data_dir else [])]
        return create_dataset(load_config(path, extra).data)
    get_dataset_class(target)  # a clear error for an unknown name
    raw: dict[str, Any] = apply_overrides({"name": target}, overrides)
    if data_dir is not None:
        raw["data_dir"] = str(data_dir)
    return create_dataset(build_config({"data": raw}, source="dataset options").data)


@datasets_app.command("list")
def datasets_list(quiet: QuietOption = False, format_: FormatOption = "table") -> None:
    """Every registered dataset: tasks, sizes, cached or not, source and licence."""
    _quiet(quiet)
    output.check_format(format_)
    output.table(catalog_table(), format_, lines=True)


@datasets_app.command("fetch")
def datasets_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name (see `sharenas datasets list`).")],
    set_: SetOption = None,
    data_dir: DataDirOption = None,
    quiet: QuietOption = False,
) -> None:
    """Download a dataset into the cache and verify it (a generated one needs nothing)."""
    _quiet(quiet)
    builder = _dataset_from(name, set_, data_dir)
    if builder.generated:
        console.print(f"{builder.name} is generated from the seed on every load: nothing to fetch.")
        return
    there = builder.is_cached()
    with console.status(f"fetching {builder.name}…"):
        builder.fetch()
    where = escape(str(builder.location()))
    if not builder.is_cached():
        raise DatasetError(
            f"{builder.name}: the fetch ended but its files are not in {where}; run "
            f"`sharenas datasets fetch {name}` again, or give your copy with --data-dir."
        )
    done = "was already there; verified" if there else "fetched and verified"
    console.print(f"[green]✓[/] {builder.name} {done}: {where}")


@datasets_app.command("show")
def datasets_show(
    target: Annotated[
        str,
        typer.Argument(
            help="Dataset name, a YAML config file, or a shipped config's name (a dataset's "
            "name wins)."
        ),
    ],
    set_: SetOption = None,
    data_dir: DataDirOption = None,
    quiet: QuietOption = False,
    format_: FormatOption = "table",
) -> None:
    """Load a task set (fetching it if needed) and print its splits and targets."""
    _quiet(quiet)
    output.check_format(format_)
    builder = _dataset_from(target, set_, data_dir)
    with err_console.status(f"loading {builder.name}…"):
        data = builder.load()
    sizes = ", ".join(f"{split} {n:,}" for split, n in data.sizes().items())
    output.say(f"{data.name}: {builder.description}", format_)
    shape = " (multi-domain: every task has its own rows)" if data.shape == "multi-domain" else ""
    output.say(f"input: {data.input_spec.describe()}; splits: {sizes}{shape}", format_)
    output.table(targets_table(data), format_)
    for task, note in data.notes.items():
        output.say(f"{task}: {note}", format_)


ConfigArgument = Annotated[
    Path,
    typer.Argument(
        help="A YAML config file, or a shipped config's name (`sharenas configs list`).",
        show_default=False,
    ),
]
ArchOption = Annotated[
    str | None,
    typer.Option("--arch", help="Architecture name, or an arch.json (default: model.arch)."),
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Overrides the config's seed.")]
SeedsOption = Annotated[
    str | None,
    typer.Option(
        "--seeds",
        help="Several seeds, e.g. 0,1,2: each in OUT/seed-N (resumed, or kept if finished), "
        "then one report over them (OUT/report.md).",
    ),
]


def _seed_list(seeds: str | None, seed: int | None) -> list[int] | None:
    """``--seeds 0,1,2`` as a list; a clear error for a malformed list or with --seed."""
    if seeds is None:
        return None
    if seed is not None:
        raise SharenasError("--seed and --seeds: give one of them.")
    try:
        values = [int(part) for part in seeds.split(",") if part.strip()]
    except ValueError:
        raise SharenasError(
            f"--seeds {seeds!r}: give integers separated by commas, e.g. 0,1,2."
        ) from None
    if not values or len(set(values)) != len(values):
        raise SharenasError(f"--seeds {seeds!r}: give distinct integers, e.g. 0,1,2.")
    return values


def _seeds_out(out: Path | None, default: Path) -> Path:
    return out or default.with_name(default.name.rsplit("-s", 1)[0] + "-seeds")


SmokeOption = Annotated[
    bool,
    typer.Option(
        "--smoke",
        help="A seconds-long run (at most 2 epochs of 2 batches on 128 rows), under runs/smoke/ "
        "unless --out; run again, changed or not, it replaces its earlier smoke run (never a "
        "real run).",
    ),
]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")]


def _overrides(set_: list[str] | None, seed: int | None) -> list[str]:
    return [*(set_ or []), *([f"seed={seed}"] if seed is not None else [])]


@app.command("train")
def train_command(
    config: ConfigArgument,
    arch: ArchOption = None,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder.")] = None,
    seed: SeedOption = None,
    seeds: SeedsOption = None,
    smoke: SmokeOption = False,
    resume: ResumeOption = False,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="A single-task run folder (with --seeds: a folder of seed-N runs): fills "
            "delta_mtl.",
        ),
    ] = None,
    quiet: QuietOption = False,
    format_: FormatOption = "table",
) -> None:
    """Train an architecture and write a run folder (config, arch.json, history, checkpoint,
    metrics.json)."""
    _quiet(quiet)
    output.check_format(format_)
    resolved = api.resolve_config(config, _overrides(set_, seed), arch)
    seed_list = _seed_list(seeds, seed)
    if seed_list is not None:
        base = _seeds_out(out, api.default_folder(resolved, smoke))
        options = {"reference": reference, "smoke": smoke, "progress": not quiet}
        records, report = api.train_seeds(resolved, base, seed_list, **options)
        output.seeds_report(records, report, format_)
        output.say(f"report: {report}", format_)
        return
    run_dir = out or api.default_folder(resolved, smoke)
    run = api.train(
        resolved, run_dir, resume=resume, smoke=smoke, reference=reference, progress=not quiet
    )
    output.runs_table([run.metrics | {"run": str(run_dir)}], format_, smoke_title("runs", smoke))
    output.say(f"run folder: {run_dir}", format_)


def _search_config(
    config: Path,
    overrides: list[str],
    finetune: int,
    retrain: bool,
    storage: str | None,
    study: str | None,
    workers: int | None,
) -> Config:
    """The search config with the command's options as overrides: --finetune / --retrain set
    search.derive (both: both); --storage, --study and --workers set search.study (partition
    only)."""
    if finetune or retrain:
        how = "both" if finetune and retrain else "retrain" if retrain else "finetune"
        overrides.append(f"search.derive={how}")
        overrides += [f"search.derive_epochs={finetune}"] if finetune else []
    study_options = {"storage": storage, "name": study, "workers": workers}
    overrides += [  # quoted: a URL (its password) is never read as YAML, so never echoed
        f"search.study.{k}={json.dumps(v) if isinstance(v, str) else v}"
        for k, v in study_options.items()
        if v is not None
    ]
    loaded = api.resolve_config(config, overrides)
    given = [f"--{'study' if k == 'name' else k}" for k, v in study_options.items() if v]
    searched = (loaded.search or SearchConfig()).space_spec
    studies = " and ".join(s.name for s in space_specs() if s.searched_by is SearchKind.STUDY)
    if given and searched.searched_by is not SearchKind.STUDY:
        raise SharenasError(
            f"{', '.join(given)} apply to the {studies} search; {config} searches the "
            f"{searched.name} space."
        )
    derivation = [o for o, v in (("--finetune", finetune), ("--retrain", retrain)) if v]
    if derivation and searched.searched_by is SearchKind.STUDY:
        raise SharenasError(
            f"{' and '.join(derivation)} appl{'y' if len(derivation) > 1 else 'ies'} to the "
            f"one-shot searches; {config} searches the "
            f"{searched.name} space, whose chosen point is trained from scratch already."
        )
    return loaded


def _search_seeds(
    loaded: Config,
    out: Path | None,
    seeds: list[int],
    smoke: bool,
    baselines: bool,
    quiet: bool,
    format_: str,
) -> None:
    """``search --seeds``: every seed's session, then the report over them, printed."""
    base = _seeds_out(out, api.default_folder(loaded, smoke, search=True))
    options = {"smoke": smoke, "baselines": baselines, "progress": not quiet}
    records, report = api.search_seeds(loaded, base, seeds, **options)
    output.seeds_report(records, report, format_)
    output.say(f"report: {report}", format_)


FinetuneOption = Annotated[
    int,
    typer.Option(
        "--finetune",
        min=0,
        help="Then fine-tune the derived network N epochs (with --retrain: both, the retrained "
        "network delivered).",
    ),
]


@app.command("search")
def search_command(
    config: ConfigArgument,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Search folder.")] = None,
    seed: SeedOption = None,
    seeds: SeedsOption = None,
    smoke: SmokeOption = False,
    resume: ResumeOption = False,
    baselines: Annotated[
        bool,
        typer.Option(
            "--baselines/--no-baselines", help="Train search.baselines with the same budget."
        ),
    ] = True,
    finetune: FinetuneOption = 0,
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
    quiet: QuietOption = False,
    format_: FormatOption = "table",
) -> None:
    """Search how the tasks share (fusion: MTL-NAS; routing: MTNAS; partition: Feature
    Partitioning), then compare with the hand-designed baselines (partition: its Pareto front
    against share-all, independent and single-task)."""
    _quiet(quiet)
    output.check_format(format_)
    loaded = _search_config(
        config, _overrides(set_, seed), finetune, retrain, storage, study, workers
    )
    seed_list = _seed_list(seeds, seed)
    if seed_list is not None:
        _search_seeds(loaded, out, seed_list, smoke, baselines, quiet, format_)
        return
    options = {"resume": resume, "smoke": smoke, "baselines": baselines, "progress": not quiet}
    found = api.search(loaded, out, **options)
    output.table(replace(found.table, title=smoke_title(found.table.title, smoke)), format_)
    for note in found.notes:
        output.say(note, format_)
    for name, path in found.files.items():
        output.say(f"{name}: {path}", format_)
    if found.run is not None:
        output.say(f"delivered model (a run folder): {found.run.folder}", format_)


AutoWorkersOption = Annotated[
    int,
    typer.Option(
        "--workers", min=1, help="Worker processes: the independent units of each phase at once."
    ),
]
AutoStorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage of the units for --workers (default: a journal file in the auto "
        "folder; postgresql://… for workers on several hosts, docs/scale-out.md).",
    ),
]


@app.command("auto")
def auto_command(
    config: ConfigArgument,
    budget: Annotated[
        str,
        typer.Option(
            "--budget",
            help="FLOPs per example the model may use (2.5e7, 25M, 1.2G) or a baseline's "
            "name (hard-sharing, single-task, …) to take its FLOPs.",
        ),
    ],
    time_: Annotated[
        float | None,
        typer.Option(
            "--time", min=0, help="Hours (implies --thorough): the searches that fit in them."
        ),
    ] = None,
    eta: Annotated[
        int, typer.Option("--eta", min=2, help="Successive halving: keep the best 1/η spaces.")
    ] = 3,
    thorough: Annotated[
        bool,
        typer.Option(
            "--thorough",
            help="Search every space (with random architectures and successive halving) "
            "instead of measuring the room first.",
        ),
    ] = False,
    workers: AutoWorkersOption = 1,
    storage: AutoStorageOption = None,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="The auto folder.")] = None,
    seed: SeedOption = None,
    seeds: SeedsOption = None,
    smoke: SmokeOption = False,
    quiet: QuietOption = False,
    format_: FormatOption = "table",
) -> None:
    """How should my tasks share within this budget? Measures the room first (single-task and
    hard-sharing with task affinity): stops there when no architecture is likely to win, else
    trains the tree the affinities ask for and the baselines within the budget; recommends one
    model (a run folder). Rerun the same command to resume."""
    _quiet(quiet)
    output.check_format(format_)
    seed_list = _seed_list(seeds, seed)  # the choice is made on the first seed
    loaded = api.resolve_config(config, _overrides(set_, seed_list[0] if seed_list else seed))
    folder = out or Path("runs") / ("smoke" if smoke else "") / f"auto-{loaded.data.name}"
    found = api.auto(
        loaded,
        folder,
        budget,
        hours=time_,
        eta=eta,
        seeds=seed_list,
        thorough=thorough,
        smoke=smoke,
        progress=not quiet,
        workers=workers,
        storage=storage,
    )
    _print_auto(found, smoke, format_)


def _print_auto(found: Any, smoke: bool, format_: str) -> None:
    """``auto``'s report in ``format_`` (json: with the answer's facts and the files)."""
    files = {name: str(path) for name, path in found.files.items()}
    shown = facts(found.plan, found.state, found.recommended, smoke) | {"files": files}
    output.document(found.report, format_, shown)
    for name, path in files.items():
        output.say(f"{name}: {path}", format_)


@app.command("affinity")
def affinity_command(
    config: ConfigArgument,
    set_: SetOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="The run folder.")] = None,
    every: Annotated[
        int | None,
        typer.Option("--every", min=1, help="Steps between measurements (default: ≈30 % cost)."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")] = False,
    seed: SeedOption = None,
    quiet: QuietOption = False,
    format_: FormatOption = "table",
) -> None:
    """Which tasks help which: train hard-sharing once and measure TAG's lookahead inter-task
    affinity (and per-stage gradient cosines); a table, affinity.json and affinity.png."""
    _quiet(quiet)
    output.check_format(format_)
    resolved = api.resolve_config(config, _overrides(set_, seed))
    folder = out or api.affinity_folder(resolved)
    found = api.affinity(resolved, folder, every=every, resume=resume, progress=not quiet)
    output.table(affinity_table(found), format_)
    output.say(f"run folder: {folder}", format_)


RunArgument = Annotated[
    Path,
    typer.Argument(
        help="A run folder, or a search folder or its search/ (the delivered model; a partition "
        "search's: its chosen point, search/model).",
        show_default=False,
    ),
]


@app.command("evaluate")
def evaluate_command(
    run: RunArgument,
    split: Annotated[str, typer.Option("--split", help="train, val or test.")] = "test",
    quiet: QuietOption = False,
    format_: FormatOption = "table",
) -> None:
    """Recompute a run's metrics from its delivered weights."""
    _quiet(quiet)
    output.check_format(format_)
    if split not in ("train", "val", "test"):
        raise SharenasError(f"--split {split!r}: choose train, val or test.")
    results = api.evaluate(run, split)
    rows = [[task, metric, value] for task, got in results.items() for metric, value in got.items()]
    columns = [Column("task", key=True), Column("metric", key=True), Column("value", number(6))]
    output.table(Table(f"{run} ({split})", columns, rows), format_)


@app.command("predict")
def predict_command(
    run: RunArgument,
    inputs: Annotated[
        Path, typer.Argument(help="A CSV of raw rows (tables); a .npy array or a folder of images.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="FILE.csv, or a folder (predictions.csv + TASK.npy)."),
    ] = None,
    unknown: Annotated[
        str, typer.Option("--unknown", help="Unseen categories: error, or zero (the unseen code).")
    ] = "error",
    force: ForceOption = False,
    quiet: QuietOption = False,
) -> None:
    """Predict every task for new inputs, preprocessed as the run's training data was."""
    import sys

    from sharenas.deploy.predictor import load_model, write_predictions
    from sharenas.runs.out_folder import run_inputs

    _quiet(quiet)
    if unknown not in ("error", "zero"):
        raise SharenasError(f"--unknown {unknown!r}: choose error or zero.")
    predictions = load_model(run).predict(inputs, unknown=unknown)
    if out is None:
        if predictions.dense_tasks():
            raise SharenasError(
                f"{run}: the dense tasks {', '.join(predictions.dense_tasks())} give arrays; "
                "pass --out FOLDER to write them as TASK.npy."
            )
        sys.stdout.write(predictions.table().to_csv(index=False))
        return
    given = [inputs, *run_inputs(run)]
    for path in write_predictions(predictions, out, force=force, inputs=given):
        err_console.print(f"wrote {path}")


@app.command("export")
def export_command(
    run: RunArgument,
    format_: Annotated[
        str, typer.Option("--format", help="onnx or exported-program (torch.export, .pt2).")
    ] = "onnx",
    out: Annotated[
        Path | None, typer.Option("--out", help="The file (default: RUN/model.onnx or .pt2).")
    ] = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
) -> None:
    """Export the delivered model (dynamic batch, one named output per task), checked against
    PyTorch on held-out rows after writing."""
    from sharenas.deploy.export import export_model
    from sharenas.deploy.predictor import load_model

    _quiet(quiet)
    exported = export_model(load_model(run), format_, out, force=force)
    console.print(exported.line(), markup=False)


@app.command("report")
def report_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to compare.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md and report.png.")] = (
        Path("report")
    ),
    quiet: QuietOption = False,
    format_: FormatOption = "table",
) -> None:
    """Compare runs: a Markdown table and a PNG chart (Δ_MTL against a single-task run among
    them)."""
    _quiet(quiet)
    output.check_format(format_)
    records, md, png = api.compare(list(runs), out)
    output.runs_table(records, format_, smoke_title("runs", any(r.get("smoke") for r in records)))
    output.say(f"wrote {md} and {png}", format_)


@configs_app.command("show")
@config_app.command("show")
def config_show(
    file: ConfigArgument,
    set_: SetOption = None,
    quiet: QuietOption = False,
) -> None:
    """Print the resolved config, defaults included."""
    _quiet(quiet)
    console.print(dump_config(load_config(file, set_)), markup=False, highlight=False)


@configs_app.command("list")
def configs_list(quiet: QuietOption = False, format_: FormatOption = "table") -> None:
    """The shipped configs: each name (usable wherever a CONFIG is asked for) and what it
    sets up."""
    _quiet(quiet)
    output.check_format(format_)
    rows = [[name, text] for name, text in shipped_configs()]
    columns = [Column("name", key=True), Column("description")]
    output.table(Table("shipped configs", columns, rows), format_)


@configs_app.command("copy")
def configs_copy(
    name: Annotated[str, typer.Argument(help="A shipped config's name (`sharenas configs list`).")],
    dest: Annotated[
        Path | None,
        typer.Argument(help="The file to write (default ./NAME.yaml; a folder: FOLDER/NAME.yaml)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace DEST if it exists.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Copy a shipped config to edit it; an existing file is kept unless --force."""
    _quiet(quiet)
    written = copy_config(name, dest, force=force)
    console.print(f"wrote {escape(str(written))}", soft_wrap=True)


OS_HINTS = {  # errno name → what the user can do
    "ENOSPC": "the disk is full: free space, then run the same command with --resume",
    "EDQUOT": "the disk quota is spent: free space, then run the same command with --resume",
    "EROFS": "the file system is read-only: choose another --out",
    "EACCES": "no permission: choose a folder you may write to, or fix its permissions",
    "EPERM": "no permission: choose a folder you may write to, or fix its permissions",
    "ENAMETOOLONG": "the name is too long for the file system: choose a shorter --out",
    "ENOTDIR": "a part of the path is a file, not a folder: choose another path",
    "EISDIR": "a folder stands where a file is expected: choose another path",
    "EEXIST": "something already stands there: choose another path",
}


def _os_message(exc: OSError) -> str:
    """An operating-system error in a user's words: the file and what to do."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    where = exc.filename or "a file"
    hint = OS_HINTS.get(name, "check the path and the disk, then run the command again")
    return f"{where}: {exc.strerror or exc}; {hint}."


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation refused (numpy, the CPU allocator, CUDA)."""
    text = str(exc)
    return isinstance(exc, MemoryError) or any(
        sign in text for sign in ("can't allocate memory", "CUDA out of memory", "out of memory")
    )


def _memory_message(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"out of memory ({first[:200]}): the request needs more memory than this machine has; "
        "lower the data sizes (data.*_size, data.dim), the model's widths or channels, or "
        "train.batch_size / train.eval_batch_size."
    )


def main() -> None:
    """Entry point of the console script. An error a user can cause (a SharenasError, or the
    operating system refusing a path: full disk, read-only folder, a file where a folder is
    expected) is printed without a traceback, exit status 2."""
    try:
        app()
    except SharenasError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(exc.exit_code) from None
    except OSError as exc:
        err_console.print(f"[bold red]error:[/] {escape(_os_message(exc))}", soft_wrap=True)
        raise SystemExit(2) from None
    except RecursionError:
        err_console.print(
            "[bold red]error:[/] an input is nested too deeply to read (a config or a run "
            "folder's file); give a flat mapping of keys.",
            soft_wrap=True,
        )
        raise SystemExit(2) from None
    except (MemoryError, RuntimeError) as exc:
        if not _out_of_memory(exc):
            raise
        err_console.print(f"[bold red]error:[/] {escape(_memory_message(exc))}", soft_wrap=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
