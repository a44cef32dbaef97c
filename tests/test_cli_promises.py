"""Commands do what they say (issue 35, part 5): option combinations are honoured or refused by
name, smoke runs can be repeated and say they are smoke, and errors blame the right input."""

from __future__ import annotations

import json
from pathlib import Path

SMOKE = Path("runs") / "smoke"


def test_search_finetune_and_retrain_does_both(tmp_path: Path, cli) -> None:
    result = cli(
        "search", "synthetic-mmoe-routing", "--smoke", "--no-baselines", "--finetune", "1",
        "--retrain", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    search = tmp_path / SMOKE / "synthetic-mmoe-routing-s0" / "search"
    record = json.loads((search / "metrics.json").read_text())
    assert record["derive"] == "both"
    assert record["finetuned"]["epochs"] == 1 and record["retrained"]["epochs"] == 2
    assert all((search / d / "best.pt").is_file() for d in ("finetune", "retrain"))
    assert "finetuned:" in result.stdout and result.stdout.count("retrained:") == 1


def test_finetune_on_a_partition_search_is_refused_by_name(cli) -> None:
    result = cli("search", "multimnist-partition", "--smoke", "--finetune", "1", "--retrain")
    assert result.returncode == 2
    assert "--finetune and --retrain apply to the one-shot searches" in result.stderr
