"""Paired tables of a multi-seed benchmark: per seed, the searched model, the baselines and the
random architectures share the data, seed and budget; the table gives mean ± std over seeds and
the paired difference against the best baseline and the random architectures, with 95 %
intervals (:mod:`sharenas.report.paired`)."""

from __future__ import annotations

import statistics
from typing import Any

from sharenas.report.paired import mean_std, paired_table
from sharenas.runs.records import validation_score


def seed_values(record: dict[str, Any], single: dict[str, Any] | None) -> dict[str, float]:
    """One run's values for a paired table: every task's primary metric, and Δ_MTL % against
    ``single`` (the same seed's single-task run) when given."""
    from sharenas.tasks import delta_mtl

    values = {f"{t} {record['primary_metric'][t]}": v for t, v in record["primary"].items()}
    if single is not None:
        values["Δ_MTL %"] = delta_mtl(
            record["primary"], single["primary"], record["higher_is_better"]
        )
    return values


def random_seed_values(
    records: list[dict[str, Any]], single: dict[str, Any] | None
) -> tuple[dict[str, float], dict[str, float]]:
    """(the mean over one seed's random architectures, the one best on validation) as paired
    table values."""
    each = [seed_values(r, single) for r in records]
    mean = {key: statistics.fmean(v[key] for v in each) for key in each[0]}
    best = max(range(len(records)), key=lambda i: validation_score(records[i], records))
    return mean, each[best]


def directions(record: dict[str, Any]) -> dict[str, bool]:
    """Whether higher is better for every value of :func:`seed_values`."""
    higher = {
        f"{t} {record['primary_metric'][t]}": record["higher_is_better"][t]
        for t in record["primary"]
    }
    return {**higher, "Δ_MTL %": True}


def seed_metric_values(
    runs: dict[int, dict[str, dict[str, Any]]],
) -> tuple[dict[str, list[dict[str, float]]], dict[str, bool]]:
    """(per model, its :func:`seed_values` in seed order; whether higher is better per value).
    ``runs[seed][model]`` is a metrics record; Δ_MTL is among the values when every seed has a
    ``single-task`` run."""
    seeds = sorted(runs)
    single = {s: runs[s].get("single-task") for s in seeds}
    values = {m: [seed_values(runs[s][m], single[s]) for s in seeds] for m in runs[seeds[0]]}
    higher = directions(next(iter(runs[seeds[0]].values())))
    if single[seeds[0]] is None:
        higher.pop("Δ_MTL %")
    return values, higher


def paired_report(
    runs: dict[int, dict[str, dict[str, Any]]],
    searched: list[str],
    randoms: dict[int, list[dict[str, Any]]] | None = None,
) -> str:
    """Markdown: one paired table per searched variant. ``runs[seed][model]`` is a metrics
    record (a ``single-task`` one per seed gives Δ_MTL); ``randoms[seed]`` the records of that
    seed's random architectures."""
    values, higher = seed_metric_values(runs)
    yardsticks: list[str] = []
    if randoms:
        seeds = sorted(runs)
        pairs = [random_seed_values(randoms[s], runs[s].get("single-task")) for s in seeds]
        yardsticks = [f"random (mean of {len(randoms[seeds[0]])})", "random (best on val)"]
        values[yardsticks[0]] = [mean for mean, _ in pairs]
        values[yardsticks[1]] = [best for _, best in pairs]
    text = []
    for arch in searched:
        others = {k: v for k, v in values.items() if k not in searched or k == arch}
        text.append(f"## paired: {arch} against the best baseline and the random architectures")
        text.append(paired_table(others, arch, higher, yardsticks))
    return "\n\n".join(text)


def baseline_separation(runs: dict[int, dict[str, dict[str, Any]]]) -> str:
    """Markdown: are the baselines told apart at this budget? The baseline with the best mean
    Δ_MTL (the first one without single-task runs) paired against every other baseline, per
    metric. ``runs[seed][model]`` is a metrics record, as in :func:`paired_report`."""
    values, higher = seed_metric_values(runs)
    models = list(values)
    best = (
        max(models, key=lambda m: statistics.fmean(v["Δ_MTL %"] for v in values[m]))
        if "Δ_MTL %" in higher
        else models[0]
    )
    others = [m for m in models if m != best]
    return paired_table(values, best, higher, others, label=f"best ({best})")


def summary_table(
    rows_by_model: dict[str, list[dict[str, Any]]],
    single: dict[int, dict[str, Any]],
    flops_unit: tuple[str, float] = ("MFLOPs", 1e6),
) -> str:
    """Markdown: per model, over its records (one per seed, or several per seed for random
    architectures), every task's primary test metric as mean ± std, Δ_MTL % against the same
    seed's ``single`` record, mean FLOPs per example (in ``flops_unit``) and parameters."""
    from sharenas.tasks import delta_mtl

    first = next(iter(single.values()))
    tasks = list(first["primary"])
    unit, scale = flops_unit
    header = [
        "model",
        *(f"{t} test {first['primary_metric'][t]}" for t in tasks),
        "Δ_MTL %",
        f"{unit} / example",
        "params",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, rows in rows_by_model.items():
        deltas = [
            delta_mtl(r["primary"], single[r["seed"]]["primary"], r["higher_is_better"])
            for r in rows
        ]
        flops = statistics.mean(r["flops_per_example"] for r in rows) / scale
        cells = [
            model,
            *(mean_std([r["primary"][t] for r in rows]) for t in tasks),
            mean_std(deltas, 2),
            f"{flops:.3g}",
            f"{statistics.mean(r['params'] for r in rows):.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
