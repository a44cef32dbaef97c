"""Regression targets trained in standard units (data.standardize_targets, default on): a task's
unit no longer weighs it against the others, predictions and metrics stay in its unit, and a run
folder recorded before the key existed is rebuilt as it was trained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import sharenas
from sharenas.config import build_config
from sharenas.data import create_dataset
from sharenas.runs.training import build_model, train
from sharenas.tasks.heads import Unstandardize


def table(tmp_path: Path, unit: float) -> Path:
    """A CSV of 4 features, a binary task and a regression task in ``unit``s."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["flag"] = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    frame["amount"] = unit * (x[:, 0] - x[:, 2] + 0.1 * rng.standard_normal(600))
    path = tmp_path / f"rows-{unit:g}.csv"
    frame.to_csv(path, index=False)
    return path


def config(path: Path, **data: object):  # type: ignore[no-untyped-def]
    return build_config(
        {
            "data": {
                "name": "tabular-csv",
                "path": str(path),
                "targets": {"flag": "binary", "amount": "regression"},
                **data,
            },
            "model": {"backbone": {"name": "mlp", "widths": [16]}},
            "train": {"epochs": 2, "batch_size": 32, "threads": 1},
        }
    )


def test_a_tasks_unit_does_not_change_the_other_tasks(tmp_path: Path) -> None:
    """The same data with the regression target in units and in thousandths of a unit: the
    binary task learns the same (its metrics equal), the regression's error scales by 1000²."""
    one = train(config(table(tmp_path, 1.0)), tmp_path / "one", progress=False)
    big = train(config(table(tmp_path, 1000.0)), tmp_path / "big", progress=False)
    assert one["tasks"]["flag"]["auc"] == pytest.approx(big["tasks"]["flag"]["auc"], abs=1e-4)
    ratio = big["tasks"]["amount"]["mse"] / one["tasks"]["amount"]["mse"]
    assert ratio == pytest.approx(1e6, rel=1e-3)
    raw = train(
        config(table(tmp_path, 1000.0), standardize_targets=False), tmp_path / "raw", progress=False
    )
    assert raw["tasks"]["flag"]["auc"] != pytest.approx(one["tasks"]["flag"]["auc"], abs=1e-4)


def test_predictions_are_in_the_targets_unit(tmp_path: Path) -> None:
    path = table(tmp_path, 1000.0)
    data = create_dataset(config(path).data).load()
    spec = {t.name: t for t in data.tasks}["amount"]
    targets = data.train.targets["amount"]
    assert spec.target_mean == pytest.approx((float(targets.double().mean()),))
    assert spec.target_std == pytest.approx((float(targets.double().std(unbiased=False)),))
    assert {t.name: t for t in data.tasks}["flag"].target_std is None
    model, _ = build_model(config(path), data)
    assert any(isinstance(m, Unstandardize) for m in model.heads["amount"].modules())
    with torch.no_grad():
        x, _ = data.val.batch(torch.arange(len(data.val)))
        start = model.eval()(x)["amount"]
    assert abs(float(start.mean()) - spec.target_mean[0]) < 0.5 * spec.target_std[0]  # prior
    sharenas.train(config(path), tmp_path / "run", progress=False)
    frame = pd.read_csv(path).head(200)
    out = sharenas.load_model(tmp_path / "run").predict(frame.drop(columns=["flag", "amount"]))
    amounts = np.asarray(out.tasks["amount"]["value"]).reshape(-1)
    assert np.abs(amounts).mean() > 100  # thousandths of a unit, not standard units
    assert np.corrcoef(amounts, frame["amount"])[0, 1] > 0.5


def test_a_folder_recorded_before_the_key_is_rebuilt_as_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config.yaml without ``standardize_targets`` was trained in the target's unit: evaluate
    rebuilds it so, and gets its recorded metrics back."""
    path = table(tmp_path, 1000.0)
    run = tmp_path / "old"
    record = train(config(path, standardize_targets=False), run, progress=False)
    text = (run / "config.yaml").read_text()
    assert "standardize_targets: false" in text
    (run / "config.yaml").write_text(text.replace("  standardize_targets: false\n", ""))
    from sharenas.cli import main

    monkeypatch.setattr(sys, "argv", ["sharenas", "evaluate", str(run), "--format", "json"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert not stopped.value.code
    rows = json.loads(capsys.readouterr().out)
    mse = next(float(r["value"]) for r in rows if (r["task"], r["metric"]) == ("amount", "mse"))
    assert mse == pytest.approx(record["tasks"]["amount"]["mse"], rel=1e-4)
