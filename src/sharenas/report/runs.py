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
from sharenas.runs.smoke import SMOKE_NOTE


def _mean_std(values: list[float], digits: int = 4) -> str:
    if not values:
        return "–"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}g} ± {std:.2g}"


def mean_row(records: list[dict[str, Any]], tasks: list[str]) -> list[str] | None:
    """The mean ± std of every column over the random architectures among ``records``."""
    group = [r for r in records if is_random(r)]
    if not group:
        return None
    arch = group[0]["arch"]
    mean = [f"random × {len(group)}", f"{arch}: mean ± std"]
    for task in tasks:
        mean += [_mean_std([r["tasks"][task][m] for r in group]) for m in group[0]["tasks"][task]]
    deltas = [r["delta_mtl"] for r in group if r.get("delta_mtl") is not None]
    mean += [
        _mean_std(deltas, 3) if deltas else "–",
        f"{statistics.fmean(r['params'] for r in group):,.0f}",
        f"{statistics.fmean(r['flops_per_example'] for r in group) / 1e6:.3g}",
        f"{statistics.fmean(r['train_seconds'] for r in group):.1f}",
    ]
    return mean


def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _row(r: dict[str, Any], tasks: list[str], name: str) -> list[str]:
    row = [name, r["arch"]]
    for task in tasks:
        row += [_fmt(v) for v in r["tasks"].get(task, {}).values()]
    delta = r.get("delta_mtl")
    return [
        *row,
        "–" if delta is None else f"{delta:+.2f}",
        f"{r['params']:,}",
        f"{r['flops_per_example'] / 1e6:.3g}",
        f"{r['train_seconds']:.1f}",
    ]


def _name(record: dict[str, Any]) -> str:
    run = Path(record["run"])
    return f"random/{run.name}" if is_random(record) else run.name


def table_rows(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Every run's row; with random architectures among them, their mean ± std and the one best
    on validation after them."""
    tasks = list(records[0]["tasks"])
    columns = ["run", "arch"]
    for task in tasks:
        columns += [f"{task} {metric}" for metric in records[0]["tasks"][task]]
    columns += ["Δ_MTL %", "params", "MFLOPs/example", "train s"]
    rows = [_row(r, tasks, _name(r)) for r in records]
    mean, best = mean_row(records, tasks), best_on_validation(records)
    if mean is not None and best is not None:
        rows += [mean, _row(best, tasks, f"random best on val ({_name(best)})")]
    return columns, rows


def markdown(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


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
    columns, rows = table_rows(records)
    text = markdown(columns, rows)
    out_dir = Path(out_dir)
    md, png = out_dir / "report.md", out_dir / "report.png"
    make_folder(out_dir, "report", any_kind=True)
    if title is None:  # a report of runs (sharenas report): smoke runs say so
        smoke = any(r.get("smoke") for r in records)
        title = f"{SMOKE_NOTE}: {records[0]['dataset']}" if smoke else records[0]["dataset"]
    parts = [f"# {title}", *(intro or []), text.rstrip()]
    if figure:
        comparison_figure(figure_groups(records), png)
        parts.append("![every model's test metric, and Δ_MTL against FLOPs](report.png)")
    parts += closing or []
    write_bytes_atomic(md, ("\n\n".join(parts) + "\n").encode())
    return text, md, png if figure else None
