"""Using a model: a run folder rebuilds its model without the dataset, ``predict`` encodes new raw
rows as training did, every architecture and every space's delivered model exports to ONNX and
``torch.export`` and reproduces PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import sharenas
from sharenas.deploy.export import TOLERANCE, export_model
from sharenas.deploy.graph import as_tuple
from sharenas.deploy.predictor import write_predictions
from sharenas.errors import SharenasError
from sharenas.runs.inputs import read_inputs
from sharenas.runs.random_archs import random_arch_record, random_genotypes
from sharenas.runs.training import train
from tests.conftest import tiny_image_task_set

HAND_DESIGNED = ["single-task", "hard-sharing", "cross-stitch", "nddr", "mmoe", "ple"]
SPACES = ["fusion", "routing", "partition", "branching"]


def write_table(path: Path, rows: int = 240) -> Path:
    """A CSV with numeric (one with gaps), categorical and three kinds of target, and a split
    column, so that the test rows are known."""
    rng = np.random.default_rng(0)
    size = rng.normal(50, 10, rows).round(2)
    age = rng.integers(18, 90, rows).astype(float)
    age[::17] = np.nan
    city = rng.choice(["Oslo", "Lima", "Pune"], rows)
    frame = pd.DataFrame(
        {
            "size": size,
            "age": age,
            "city": city,
            "sold": np.where(size + rng.normal(0, 5, rows) > 50, "yes", "no"),
            "grade": rng.choice(["A", "B", "C"], rows),
            "price": size * 3 + rng.normal(0, 1, rows),
            "split": ["train"] * (rows - 80) + ["val"] * 40 + ["test"] * 40,
        }
    )
    frame.to_csv(path, index=False)
    return path


def table_config(tmp_path: Path) -> Path:
    csv = write_table(tmp_path / "shop.csv")
    path = tmp_path / "shop.yaml"
    path.write_text(
        f"data: {{name: tabular-csv, path: {csv}, split_column: split,\n"
        "  targets: {sold: binary, grade: classification, price: regression}}\n"
        "model: {backbone: {name: mlp, widths: [16, 8]}, tower: [8]}\n"
        "train: {epochs: 1, batch_size: 32, threads: 1}\n"
    )
    return path


def encoded_predictions(run: Path) -> dict[str, torch.Tensor]:
    """The delivered model's activated outputs on the test split as the dataset encoded it."""
    loaded = sharenas.load_model(run)
    data = sharenas.load_dataset(loaded.config.data)
    with torch.no_grad():
        outputs = loaded.graph()(
            *as_tuple(loaded.inputs.input_spec, data.test.batch(slice(None))[0])
        )
    return {h.name: out for h, out in zip(loaded.handlers, outputs, strict=True)}


def space_arch(config: Path, space: str, folder: Path) -> Path:
    """A random point of ``space`` as an arch.json (what a search or a front point gives)."""
    settings = [f"search.space={space}", "search.random_architectures=1"]
    cfg = sharenas.load_config(config, settings)
    genotype = random_genotypes(cfg, sharenas.load_dataset(cfg.data))[0]
    path = folder / f"{space}.json"
    path.write_text(json.dumps(random_arch_record(cfg, genotype)))
    return path


@pytest.mark.parametrize("arch", HAND_DESIGNED + SPACES)
def test_every_table_model_predicts_raw_rows_and_exports(tmp_path: Path, arch: str) -> None:
    """Raw CSV rows give what the network gives on the dataset's own encoding of them; the ONNX
    file and the exported program reproduce PyTorch within 1e-5 (and onnxruntime the predictions
    on real rows)."""
    config = table_config(tmp_path)
    chosen = space_arch(config, arch, tmp_path) if arch in SPACES else arch
    run = sharenas.train(config, tmp_path / "run", arch=chosen, progress=False).folder
    assert (run / "inputs.json").exists()
    loaded = sharenas.load_model(run)
    assert not loaded.model.training
    if arch == "partition":  # the physically pruned network is what is delivered
        assert type(loaded.model).__name__ == "DeployedPartitionNetwork"

    frame = pd.read_csv(tmp_path / "shop.csv")
    test_rows = frame[frame["split"] == "test"].drop(columns=["sold", "grade", "price"])
    predicted = loaded.predict(test_rows)
    expected = encoded_predictions(run)
    assert np.allclose(predicted.tasks["sold"]["probability"], expected["sold"].numpy(), atol=1e-6)
    assert np.allclose(predicted.tasks["price"]["value"], expected["price"].numpy(), atol=1e-5)
    table = predicted.table()
    assert set(table["grade"]) <= {"A", "B", "C"} and "grade:p(B)" in table.columns

    for fmt in ("onnx", "exported-program"):
        report = export_model(loaded, fmt)
        assert report.path.exists() and report.max_abs_difference <= TOLERANCE
    import onnxruntime

    session = onnxruntime.InferenceSession(str(run / "model.onnx"))
    encoded = loaded.inputs.preprocessing
    from sharenas.data.preprocessing import encode_table

    feeds = encode_table(test_rows, encoded.input, "test rows")  # type: ignore[arg-type]
    sold = session.run(["sold"], {k: v.numpy() for k, v in feeds.items()})[0]
    assert np.abs(sold - predicted.tasks["sold"]["probability"]).max() <= TOLERANCE


def test_a_run_folder_is_enough_to_predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the training CSV gone, the model is still rebuilt, and new rows are encoded with
    the recorded statistics (a missing numeric cell takes the training median)."""
    config = table_config(tmp_path)
    run = sharenas.train(config, tmp_path / "run", arch="hard-sharing", progress=False).folder
    before = sharenas.load_model(run).predict(tmp_path / "shop.csv").table()
    (tmp_path / "shop.csv").rename(tmp_path / "moved.csv")
    after = sharenas.load_model(run).predict(tmp_path / "moved.csv").table()
    pd.testing.assert_frame_equal(before, after)
    inputs = read_inputs(run)
    assert inputs is not None
    age = next(c for c in inputs.preprocessing.input.numeric if c.name == "age")  # type: ignore[union-attr]
    assert age.fill is not None and 18 <= age.fill <= 90


def test_bad_rows_get_clear_errors(tmp_path: Path, cli) -> None:
    config = table_config(tmp_path)
    run = sharenas.train(config, tmp_path / "run", arch="mmoe", progress=False).folder
    loaded = sharenas.load_model(run)
    rows = pd.read_csv(tmp_path / "shop.csv").head(5)
    unseen = rows.assign(city=["Oslo", "Oslo", "Quito", "Lima", "Lima"])
    with pytest.raises(SharenasError, match=r"'city' holds 'Quito' in data row 3.*--unknown zero"):
        loaded.predict(unseen)
    assert len(loaded.predict(unseen, unknown="zero").table()) == 5
    with pytest.raises(SharenasError, match="missing column.*'size'"):
        loaded.predict(rows.drop(columns=["size"]))
    with pytest.raises(SharenasError, match="'age' holds 'old' in data row 1"):
        loaded.predict(rows.assign(age=["old", 1, 2, 3, 4]))

    unseen.to_csv(tmp_path / "unseen.csv", index=False)
    refused = cli("predict", str(run), str(tmp_path / "unseen.csv"))
    assert refused.returncode == 2 and "Quito" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = cli(
        "predict",
        str(run),
        str(tmp_path / "unseen.csv"),
        "--unknown",
        "zero",
        "--out",
        str(tmp_path / "p.csv"),
    )
    assert done.returncode == 0, done.stderr
    assert {"sold", "grade", "price"} <= set(pd.read_csv(tmp_path / "p.csv").columns)
    wrong = cli("export", str(run), "--format", "tflite")
    assert wrong.returncode == 2 and "onnx or exported-program" in wrong.stderr


@pytest.mark.parametrize("space", ["fusion", "routing", "branching"])
def test_a_search_delivers_a_model_that_exports(tmp_path: Path, space: str, cli) -> None:
    """The derived fusion network, the routing route and the branching tree, as a search
    delivers them."""
    from tests.test_runs import search_yaml

    found = sharenas.search(
        search_yaml(tmp_path, space), tmp_path / "out", baselines=False, progress=False
    )
    run = found.folder / "search"
    loaded = sharenas.load_model(run)
    columns = [f"x{i}" for i in range(8)]
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(6, 8)), columns=columns)
    values = loaded.predict(rows).table()
    assert list(values.columns) == ["task1", "task2"] and len(values) == 6
    x = {"numeric": torch.tensor(rows.to_numpy(), dtype=torch.float32)}
    with torch.no_grad():
        direct = found.model(x)
    assert np.allclose(values["task1"], direct["task1"].numpy(), atol=1e-6)
    result = cli("export", str(run), "--format", "onnx")
    assert result.returncode == 0, result.stderr
    assert "max |difference|" in result.stdout and (run / "model.onnx").exists()


def test_image_models_predict_arrays_folders_and_dense_maps(tmp_path: Path) -> None:
    """uint8 arrays, [0, 1] floats and a folder of PNGs give the same predictions; a dense task
    is written as TASK.npy; wrong shapes and ranges are refused."""
    from PIL import Image

    data = tiny_image_task_set()
    config = sharenas.build_config(
        {
            "data": {"name": "multimnist"},
            "model": {"arch": "cross-stitch", "backbone": {"name": "cnn", "channels": [4, 8]}},
            "train": {"epochs": 1, "batch_size": 8, "threads": 1},
        }
    )
    train(config, tmp_path / "run", progress=False, data=data)
    loaded = sharenas.load_model(tmp_path / "run")
    images = data.test.inputs[:5].numpy()  # (5, 1, 16, 16) uint8
    from_uint8 = loaded.predict(images)
    from_float = loaded.predict(images.astype(np.float32) / 255)
    np.save(tmp_path / "x.npy", images[:, 0])  # (N, H, W): one channel
    from_npy = loaded.predict(tmp_path / "x.npy")
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image[0]).save(folder / f"img{i}.png")
    from_pngs = loaded.predict(folder)
    for other in (from_float, from_npy, from_pngs):
        for task in ("seg", "label"):
            a, b = from_uint8.tasks[task]["probabilities"], other.tasks[task]["probabilities"]
            assert np.allclose(a, b, atol=1e-6)
    assert list(from_pngs.table()["input"]) == [f"img{i}.png" for i in range(5)]
    written = write_predictions(from_uint8, tmp_path / "out")
    assert np.load(tmp_path / "out" / "seg.npy").shape == (5, 3, 16, 16)
    assert len(written) == 2
    with pytest.raises(SharenasError, match="dense tasks seg"):
        write_predictions(from_uint8, tmp_path / "p.csv")
    with pytest.raises(SharenasError, match=r"shape \(5, 1, 8, 8\)"):
        loaded.predict(np.zeros((5, 1, 8, 8), np.uint8))
    with pytest.raises(SharenasError, match="outside \\[0, 1\\]"):
        loaded.predict(images.astype(np.float32))
    report = export_model(loaded, "onnx")
    assert report.max_abs_difference <= TOLERANCE


def test_a_multi_domain_model_predicts_each_task_with_its_domain_norms(tmp_path: Path) -> None:
    """train.domain_norms: every task's prediction goes through its own domain's batch norms,
    in predict and in the exported file."""
    from sharenas.engine.domain_norms import domain
    from tests.test_multi_domain import domains_task_set

    data = domains_task_set()
    config = sharenas.build_config(
        {
            "data": {"name": "synthetic-mmoe"},
            "model": {"arch": "hard-sharing", "backbone": {"name": "cnn", "channels": [4]}},
            "train": {"epochs": 1, "batch_size": 8, "domain_norms": True, "threads": 1},
        }
    )
    train(config, tmp_path / "r", data=data, progress=False)
    loaded = sharenas.load_model(tmp_path / "r")
    x = data.test.domains["a"].batch(slice(None))[0]
    predicted = loaded.predict(x)
    for task in ("a", "b"):
        with torch.no_grad(), domain(loaded.model, task):
            expected = torch.softmax(loaded.model(x)[task], 1).numpy()
        assert np.allclose(predicted.tasks[task]["probabilities"], expected, atol=1e-6)
    assert export_model(loaded, "onnx").max_abs_difference <= TOLERANCE


def test_raw_rows_without_a_header_may_repeat_a_value(tmp_path: Path) -> None:
    """A raw census-income row repeats values (``0``, ``?``): it is read as data in the raw
    file's column order, not refused as a header naming a column twice."""
    from sharenas.data.preprocessing import CategoricalColumn, NumericColumn, TableEncoding
    from sharenas.deploy.inputs import read_rows
    from sharenas.errors import DatasetError

    encoding = TableEncoding(
        numeric=[
            NumericColumn(name="age", mean=0, std=1),
            NumericColumn(name="wage", mean=0, std=1),
        ],
        categorical=[CategoricalColumn(name="city", vocabulary=["?", "a"])],
        raw_columns=["age", "wage", "city", "label"],
    )
    rows = tmp_path / "raw.csv"
    rows.write_text("0, 0, ?, 0\n5, 0, a, 1\n")
    frame = read_rows(rows, encoding)
    assert list(frame.columns) == ["age", "wage", "city", "label"]
    assert frame.shape == (2, 4) and frame.loc[0, "city"] == "?"
    rows.write_text("age,age,city\n1,2,a\n")  # a header that names a column twice: refused
    with pytest.raises(DatasetError, match="more than once"):
        read_rows(rows, encoding)
