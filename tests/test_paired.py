"""Paired statistics of the benchmark tables: per-seed differences and their 95 % t interval."""

from __future__ import annotations

import pytest

from sharenas.report.paired import (
    best_reference,
    comparison_rows,
    mean_std,
    paired_difference,
    t_quantile,
)


def test_t_quantiles_match_the_table_values() -> None:
    assert t_quantile(1) == 12.706 and t_quantile(2) == 4.303 and t_quantile(4) == 2.776
    assert t_quantile(40) == pytest.approx(2.021, abs=0.002)
    assert t_quantile(120) == pytest.approx(1.980, abs=0.002)


def test_a_consistent_gain_beats_and_a_noisy_one_ties() -> None:
    gain = paired_difference([0.80, 0.82, 0.81], [0.78, 0.80, 0.80])
    assert gain.mean == pytest.approx(1 / 60)
    half = 4.303 * 0.005773502691896258 / 3**0.5
    assert (gain.low, gain.high) == (pytest.approx(1 / 60 - half), pytest.approx(1 / 60 + half))
    assert gain.verdict() == "beats" and gain.verdict(higher_is_better=False) == "below"
    noisy = paired_difference([0.80, 0.70, 0.90], [0.79, 0.81, 0.78])
    assert noisy.low < 0 < noisy.high and noisy.verdict() == "tie"
    assert paired_difference([1.0], [0.0]).verdict() == "tie"  # one seed: no interval


def test_comparison_against_the_best_reference() -> None:
    references = {"nddr": [0.70, 0.72, 0.71], "hard-sharing": [0.60, 0.61, 0.62]}
    assert best_reference(references) == "nddr"
    assert best_reference(references, higher_is_better=False) == "hard-sharing"
    shown, best, difference, verdict = comparison_rows([0.69, 0.70, 0.70], references)
    assert shown == mean_std([0.69, 0.70, 0.70]) and best == "nddr"
    assert difference.mean == pytest.approx(-0.0133, abs=1e-4) and verdict == "tie"
    _, _, lower, verdict = comparison_rows([0.68, 0.70, 0.69], references)
    assert lower.mean == pytest.approx(-0.02) and verdict == "below"
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1.0, 2.0], [1.0])


def test_the_table_names_the_best_reference_and_the_yardstick() -> None:
    from sharenas.report.paired import paired_table

    results = {
        "fusion": [{"acc": 0.80}, {"acc": 0.82}, {"acc": 0.81}],
        "nddr": [{"acc": 0.78}, {"acc": 0.80}, {"acc": 0.80}],
        "hard-sharing": [{"acc": 0.70}, {"acc": 0.71}, {"acc": 0.70}],
        "random (mean of 5)": [{"acc": 0.80}, {"acc": 0.70}, {"acc": 0.90}],
    }
    table = paired_table(results, "fusion", {"acc": True}, yardsticks=["random (mean of 5)"])
    rows = table.splitlines()[2:]
    assert len(rows) == 2
    assert "| nddr |" in rows[0] and rows[0].endswith("| beats |")
    assert "| random (mean of 5) |" in rows[1] and rows[1].endswith("| tie |")


def test_the_benchmark_report_pairs_each_seed() -> None:
    from sharenas.report.seed_table import paired_report

    def record(values: dict[str, float], val: dict[str, float] | None = None) -> dict:
        return {
            "primary": values,
            "primary_metric": {t: "accuracy" for t in values},
            "higher_is_better": {t: True for t in values},
            "val": {t: {"accuracy": v} for t, v in (val or values).items()},
        }

    runs = {
        seed: {
            "searched": record({"a": 0.80 + seed / 100, "b": 0.70}),
            "single-task": record({"a": 0.75, "b": 0.70}),
            "nddr": record({"a": 0.78 + seed / 100, "b": 0.69}),
        }
        for seed in (0, 1, 2)
    }
    randoms = {
        seed: [record({"a": 0.70, "b": 0.60}), record({"a": 0.74, "b": 0.64}, {"a": 1, "b": 1})]
        for seed in (0, 1, 2)
    }
    text = paired_report(runs, ["searched"], randoms)
    rows = [line for line in text.splitlines() if line.startswith("| a accuracy")]
    assert [row.split(" | ")[2] for row in rows] == [
        "nddr",
        "random (mean of 2)",
        "random (best on val)",
    ]
    assert rows[0].endswith("| beats |")  # +0.02 on every seed
    best = next(r for r in rows if "best on val" in r)
    assert "0.7400 ± 0.0000" in best  # the second random architecture is best on validation
    assert any(line.startswith("| Δ_MTL %") for line in text.splitlines())


def test_the_baseline_separation_pairs_the_best_baseline_with_every_other() -> None:
    from sharenas.report.seed_table import baseline_separation

    def record(acc: float) -> dict:
        return {
            "primary": {"left": acc},
            "primary_metric": {"left": "accuracy"},
            "higher_is_better": {"left": True},
        }

    runs = {
        seed: {
            "single-task": record(0.80 + 0.01 * seed),
            "nddr": record(0.85 + 0.01 * seed + 0.001 * (seed % 2)),
            "hard-sharing": record(0.70 + 0.02 * seed),
        }
        for seed in range(3)
    }
    table = baseline_separation(runs)
    assert table.splitlines()[0].startswith("| metric | best (nddr) | reference |")
    rows = [line for line in table.splitlines() if line.startswith("| left accuracy")]
    assert [row.split(" | ")[2] for row in rows] == ["single-task", "hard-sharing"]
    assert all(row.rstrip(" |").endswith("beats") for row in rows)
    assert len([line for line in table.splitlines() if line.startswith("| Δ_MTL %")]) == 2
