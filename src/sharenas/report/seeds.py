"""The report of several seeds of one request (``--seeds``): per model, every task's primary test
metric and Δ_MTL as mean ± std over seeds, Δ_MTL per seed, and the searched model paired with
every baseline and with the random architectures (95 % t intervals of the per-seed differences,
:mod:`sharenas.report.paired`)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from sharenas.cache import write_bytes_atomic
from sharenas.report.comparison_figure import comparison_figure
from sharenas.report.paired import mean_std, paired_table
from sharenas.report.reading import seeds_reading
from sharenas.report.seed_table import directions, random_seed_values, seed_values
from sharenas.runs.records import is_random

RecordsBySeed = dict[int, list[dict[str, Any]]]
Named = dict[int, dict[str, dict[str, Any]]]  # seed -> model -> record


def model_name(record: dict[str, Any]) -> str:
    return str(record["arch"])


def by_model(records: RecordsBySeed) -> tuple[Named, RecordsBySeed]:
    """(per seed, the named models' records; per seed, the random architectures' records)."""
    named = {s: {model_name(r): r for r in rs if not is_random(r)} for s, rs in records.items()}
    randoms = {s: [r for r in rs if is_random(r)] for s, rs in records.items()}
    return named, randoms


def _summary(named: Named, models: list[str]) -> list[str]:
    seeds = sorted(named)
    first = named[seeds[0]][models[0]]
    tasks = list(first["primary"])
    header = ["model", *(f"{t} {first['primary_metric'][t]}" for t in tasks), "Δ_MTL %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in models:
        runs = [named[s][model] for s in seeds]
        deltas = [r["delta_mtl"] for r in runs if r.get("delta_mtl") is not None]
        cells = [model, *(mean_std([r["primary"][t] for r in runs]) for t in tasks)]
        cells.append(mean_std(deltas, 2) if len(deltas) == len(runs) else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _per_seed(named: Named, models: list[str]) -> list[str]:
    seeds = sorted(named)
    lines = ["| model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |"]
    lines.append("|" + "---|" * (len(seeds) + 2))
    for model in models:
        deltas = [named[s][model].get("delta_mtl") for s in seeds]
        if None in deltas:
            continue
        cells = [f"{d:+.2f}" for d in deltas] + [f"{statistics.fmean(deltas):+.2f}"]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _paired(named: Named, randoms: RecordsBySeed, models: list[str]) -> list[str]:
    """Each searched model paired with every baseline and the random architectures."""
    seeds = sorted(named)
    searched = [m for m in models if "(searched" in m]
    single = {s: named[s].get("single-task") for s in seeds}
    higher = directions(named[seeds[0]][models[0]])
    if single[seeds[0]] is None:
        higher.pop("Δ_MTL %")
    values = {
        m: [
            {k: v for k, v in seed_values(named[s][m], single[s]).items() if k in higher}
            for s in seeds
        ]
        for m in models
    }
    yardsticks = [m for m in models if m not in searched]
    if randoms[seeds[0]]:
        pairs = [random_seed_values(randoms[s], single[s]) for s in seeds]
        names = [f"random (mean of {len(randoms[seeds[0]])})", "random (best on val)"]
        values[names[0]] = [mean for mean, _ in pairs]
        values[names[1]] = [best for _, best in pairs]
        yardsticks += names
    text = []
    for model in searched:
        text += ["", f"## {model} against every baseline, paired over seeds", ""]
        others = {m: values[m] for m in [model, *yardsticks]}
        text.append(paired_table(others, model, higher, yardsticks).rstrip())
    return text


def seeds_report(records: RecordsBySeed, title: str) -> str:
    """Markdown for ``records[seed]`` (every run of that seed: the searched model, the
    baselines, the random architectures; metrics.json records with Δ_MTL filled)."""
    named, randoms = by_model(records)
    seeds = sorted(named)
    models = [m for m in named[seeds[0]] if all(m in named[s] for s in seeds)]
    text = [f"# {title}", "", f"Seeds {', '.join(map(str, seeds))}: mean ± std over seeds.", ""]
    text += [*_summary(named, models), "", "## Δ_MTL % per seed", "", *_per_seed(named, models)]
    if len(seeds) > 1:
        text += _paired(named, randoms, models)
    return "\n".join(text) + "\n"


def write_seeds_report(records: RecordsBySeed, folder: Path, title: str) -> Path:
    """``report.md`` (the tables, the figure, the reading) and ``report.png``/``.svg``."""
    named, _ = by_model(records)
    seeds = sorted(named)
    models = [m for m in named[seeds[0]] if all(m in named[s] for s in seeds)]
    comparison_figure({m: [named[s][m] for s in seeds] for m in models}, folder / "report.png")
    said = seeds_reading(records)
    text = seeds_report(records, title)
    text += "\n![mean ± std over seeds of every model, and Δ_MTL against FLOPs](report.png)\n"
    text += f"\n{said}\n" if said else ""
    path = Path(folder) / "report.md"
    write_bytes_atomic(path, text.encode())
    return path
