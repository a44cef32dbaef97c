"""Comparison of finished runs: a Markdown table (tasks × metrics, Δ_MTL, params, FLOPs, time)
and a bar chart of each task's primary metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sharenas.cache import write_bytes_atomic
from sharenas.errors import SharenasError
from sharenas.report.figure import save_figure
from sharenas.report.random_summary import best_on_validation, is_random, mean_row
from sharenas.tasks import delta_mtl


def read_metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        raise SharenasError(f"{run_dir}: no metrics.json; is it a finished run folder?")
    record = json.loads(path.read_text())
    record["run"] = str(run_dir)
    return record


def with_delta(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill Δ_MTL against the single-task run of the same dataset, when one is among them."""
    singles = {r["dataset"]: r for r in records if r["arch"] == "single-task"}
    for record in records:
        single = singles.get(record["dataset"])
        if single is not None and set(record["primary"]) == set(single["primary"]):
            record["delta_mtl"] = delta_mtl(
                record["primary"], single["primary"], record["higher_is_better"]
            )
    return records


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


def chart(records: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(records[0]["primary"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks) + 1, 3.4), squeeze=False)
    names = [
        f"{r['arch']}\n{Path(r['run']).name}"
        if len({x["arch"] for x in records}) < len(records)
        else r["arch"]
        for r in records
    ]
    for ax, task in zip(axes[0], tasks, strict=True):
        values = [r["primary"].get(task, float("nan")) for r in records]
        ax.bar(range(len(values)), values, color="#4c72b0")
        ax.set_xticks(range(len(values)), names, rotation=45, ha="right", fontsize=8)
        better = "higher" if records[0]["higher_is_better"][task] else "lower"
        ax.set_title(
            f"{task}: {records[0]['primary_metric'][task]} ({better} is better)", fontsize=9
        )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def write_report(run_dirs: list[Path], out_dir: Path) -> tuple[str, Path, Path]:
    """Write ``report.md`` and ``report.png`` into ``out_dir``; return the table and paths."""
    records = with_delta([read_metrics(d) for d in run_dirs])
    datasets = {r["dataset"] for r in records}
    if len(datasets) > 1:
        raise SharenasError(f"runs on different datasets {sorted(datasets)} cannot share a table.")
    columns, rows = table_rows(records)
    text = markdown(columns, rows)
    out_dir = Path(out_dir)
    md, png = out_dir / "report.md", out_dir / "report.png"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(md, (f"# {records[0]['dataset']}\n\n" + text).encode())
    chart(records, png)
    return text, md, png
