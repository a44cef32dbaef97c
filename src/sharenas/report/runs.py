"""Comparison of finished runs: a Markdown table (tasks × metrics, Δ_MTL, params, FLOPs, time)
and the comparison figure (:mod:`sharenas.report.comparison_figure`)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from sharenas.cache import write_bytes_atomic
from sharenas.errors import SharenasError
from sharenas.report.comparison_figure import comparison_figure
from sharenas.runs.out_folder import make_folder
from sharenas.runs.records import best_on_validation, is_random, read_metrics, with_delta
from sharenas.runs.smoke import smoke_title
from sharenas.tabular import Column, Spread, Table, fixed, grouped, number, signed


def _spread(values: list[float]) -> Spread | None:
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Spread(statistics.fmean(values), std)


def _values(records: list[dict[str, Any]], task: str, metric: str) -> list[float]:
    """``metric`` of ``task`` in every record that has it."""
    found = (r["tasks"].get(task, {}).get(metric) for r in records)
    return [v for v in found if v is not None]


def mean_row(records: list[dict[str, Any]], tasks: dict[str, list[str]]) -> list[Any] | None:
    """The mean ± std of every column over the random architectures among ``records``."""
    group = [r for r in records if is_random(r)]
    if not group:
        return None
    arch = group[0]["arch"]
    mean: list[Any] = [f"random × {len(group)}", f"{arch}: mean ± std"]
    for task, metrics in tasks.items():
        mean += [_spread(_values(group, task, m)) for m in metrics]
    deltas = [r["delta_mtl"] for r in group if r.get("delta_mtl") is not None]
    return [
        *mean,
        _spread(deltas),
        statistics.fmean(r["params"] for r in group),
        statistics.fmean(r["flops_per_example"] for r in group) / 1e6,
        statistics.fmean(r["train_seconds"] for r in group),
    ]


def _row(r: dict[str, Any], tasks: dict[str, list[str]], name: str) -> list[Any]:
    """A run's row under the columns of ``tasks`` (task → metrics): a metric it lacks is
    missing, never a shifted column."""
    row = [name, r["arch"]]
    for task, metrics in tasks.items():
        row += [r["tasks"].get(task, {}).get(m) for m in metrics]
    return [*row, r.get("delta_mtl"), r["params"], r["flops_per_example"] / 1e6, r["train_seconds"]]


def _name(record: dict[str, Any]) -> str:
    run = Path(record["run"])
    return f"random/{run.name}" if is_random(record) else run.name


def table_rows(records: list[dict[str, Any]], title: str = "runs") -> Table:
    """Every run's row; with random architectures among them, their mean ± std and the one best
    on validation after them."""
    tasks = {task: list(metrics) for task, metrics in records[0]["tasks"].items()}
    columns = [Column("run", key=True), Column("arch", key=True)]
    for task, metrics in tasks.items():
        columns += [Column(f"{task} {metric}", number(4)) for metric in metrics]
    columns += [
        Column("Δ_MTL %", signed(2)),
        Column("params", grouped),
        Column("MFLOPs/example", number(3)),
        Column("train s", fixed(1)),
    ]
    rows = [_row(r, tasks, _name(r)) for r in records]
    mean, best = mean_row(records, tasks), best_on_validation(records)
    if mean is not None and best is not None:
        rows += [mean, _row(best, tasks, f"random best on val ({_name(best)})")]
    return Table(title, columns, rows)


def seed_rows(records: dict[int, list[dict[str, Any]]], title: str = "runs by seed") -> Table:
    """Every run of every seed (``--seeds``), each row led by its seed: the raw numbers from which
    the report's means and paired intervals are computed."""
    tables = {seed: table_rows(runs) for seed, runs in records.items()}
    columns = [Column("seed", key=True), *next(iter(tables.values())).columns]
    rows = [[seed, *row] for seed, table in tables.items() for row in table.rows]
    return Table(title, columns, rows)


def figure_groups(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records by model for the comparison figure: each run by its architecture (its folder name
    when two runs share one), the random architectures together."""
    archs = [r["arch"] for r in records if not is_random(r)]
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if is_random(record):
            name = f"random ({sum(is_random(r) for r in records)})"
        else:
            name = record["arch"] if archs.count(record["arch"]) == 1 else _name(record)
        groups.setdefault(name, []).append(record)
    return groups


def write_report(
    run_dirs: list[Path],
    out_dir: Path,
    title: str | None = None,
    intro: list[str] | None = None,
    closing: list[str] | None = None,
    figure: bool = True,
) -> tuple[str, Path, Path | None]:
    """Write ``report.md`` (``title``, ``intro`` paragraphs, the table, the figure, ``closing``
    paragraphs) and (with ``figure``) ``report.png``/``report.svg`` into ``out_dir``; return the
    table and the paths. ``out_dir`` must be new, empty or a sharenas folder (a search's, a
    report's)."""
    records = with_delta([read_metrics(d) for d in run_dirs])
    datasets = {r["dataset"] for r in records}
    if len(datasets) > 1:
        raise SharenasError(f"runs on different datasets {sorted(datasets)} cannot share a table.")
    text = table_rows(records).markdown()
    out_dir = Path(out_dir)
    md, png = out_dir / "report.md", out_dir / "report.png"
    make_folder(out_dir, "report", any_kind=True)
    if title is None:  # a report of runs (sharenas report): smoke runs say so
        smoke = any(r.get("smoke") for r in records)
        title = smoke_title(records[0]["dataset"], smoke)
    parts = [f"# {title}", *(intro or []), text.rstrip()]
    if figure:
        comparison_figure(figure_groups(records), png)
        parts.append("![every model's test metric, and Δ_MTL against FLOPs](report.png)")
    parts += closing or []
    write_bytes_atomic(md, ("\n\n".join(parts) + "\n").encode())
    return text, md, png if figure else None
