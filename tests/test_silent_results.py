"""Inputs that used to give a silent wrong answer (exit 0) are refused, naming what is wrong:
numbers beyond 32-bit floats, NaN images, repeated column names, NYUv2 images stored 0–255,
a cache folder copied over another's, teachers cached for another file's contents, an auto run
resumed with another config, and a finished search's time rewritten by --resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sharenas
from sharenas.config import build_config
from sharenas.data import load_dataset
from sharenas.errors import DatasetError, SharenasError
from tests.test_deploy import table_config, write_table


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("table")
    return sharenas.train(table_config(folder), folder / "run", progress=False).folder


def test_predict_refuses_what_it_cannot_read(table_run: Path, tmp_path: Path) -> None:
    loaded = sharenas.load_model(table_run)
    rows = pd.read_csv(write_table(tmp_path / "rows.csv")).head(3)
    for value in ("1e309", "-1e308", "inf"):
        with pytest.raises(DatasetError, match=rf"'size' holds '{value}' in data row 2"):
            loaded.predict(rows.astype(str).assign(size=["1", value, "2"]))
    header = tmp_path / "header.csv"
    header.write_text("size,age,city\n")
    with pytest.raises(DatasetError, match="no rows to predict"):
        loaded.predict(header)
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("size,size,age,city\n1,2,30,Oslo\n")
    with pytest.raises(DatasetError, match="names 'size' more than once"):
        loaded.predict(repeated)


def test_predict_refuses_nan_and_empty_images() -> None:
    from sharenas.data.preprocessing import ImageEncoding
    from sharenas.deploy.inputs import image_array

    encoding = ImageEncoding(channels=1, height=4, width=4)
    images = np.full((2, 1, 4, 4), 0.5, dtype=np.float32)
    assert image_array(images, encoding, "x").shape == (2, 1, 4, 4)
    images[1, 0, 2, 2] = np.nan
    with pytest.raises(DatasetError, match="NaN or infinite"):
        image_array(images, encoding, "x")
    with pytest.raises(DatasetError, match="no images"):
        image_array(np.zeros((0, 1, 4, 4), np.float32), encoding, "x")


def test_training_names_a_column_it_cannot_standardise(tmp_path: Path) -> None:
    csv = write_table(tmp_path / "shop.csv")
    frame = pd.read_csv(csv)
    targets = {"sold": "binary"}
    frame.assign(age=np.nan).to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(DatasetError, match="column 'age' holds"):
        load_dataset("tabular-csv", path=tmp_path / "empty.csv", targets=targets)
    frame.astype({"size": str}).assign(size="1e308").to_csv(tmp_path / "big.csv", index=False)
    with pytest.raises(DatasetError, match="column 'size' holds"):
        load_dataset("tabular-csv", path=tmp_path / "big.csv", targets=targets)
    text = csv.read_text().replace("size,age", "size,size", 1)
    (tmp_path / "twice.csv").write_text(text)
    with pytest.raises(DatasetError, match="names 'size' more than once"):
        load_dataset("tabular-csv", path=tmp_path / "twice.csv", targets=targets)


def test_nyuv2_reads_bytes_as_bytes_and_refuses_bad_labels(tmp_path: Path) -> None:
    from tests.test_nyuv2 import make_split

    rng = np.random.default_rng(0)
    for name in ("floats", "bytes"):
        make_split(tmp_path / name / "train", 4, rng)
        make_split(tmp_path / name / "val", 2, rng)
    for split in ("train", "val"):
        for i in range(4 if split == "train" else 2):
            source = tmp_path / "floats" / split / "image" / f"{i}.npy"
            target = tmp_path / "bytes" / split / "image" / f"{i}.npy"
            np.save(target, np.rint(np.load(source) * 255).astype(np.uint8))
    as_floats = load_dataset("nyuv2", data_dir=tmp_path / "floats", val_fraction=0.25)
    as_bytes = load_dataset("nyuv2", data_dir=tmp_path / "bytes", val_fraction=0.25)
    x_float, _ = as_floats.train.batch(slice(None))
    x_byte, _ = as_bytes.train.batch(slice(None))
    assert float((x_float - x_byte).abs().max()) < 1e-6  # 0–255 is not clipped to white
    np.save(tmp_path / "bytes" / "train" / "label" / "0.npy", np.full((12, 16), 40.0))
    with pytest.raises(DatasetError, match="NYUv2 has 13 classes"):
        load_dataset("nyuv2", data_dir=tmp_path / "bytes", val_fraction=0.25, limit=3)


def test_a_cache_folder_copied_over_another_is_rebuilt(tmp_path: Path) -> None:
    import shutil

    from sharenas.data.derived import cached_arrays, key_digest

    first = cached_arrays(tmp_path, {"split": "val"}, lambda: {"x": np.zeros(3)})
    other = cached_arrays(tmp_path, {"split": "test"}, lambda: {"x": np.ones(3)})
    assert first["x"].sum() == 0 and other["x"].sum() == 3
    val, test = tmp_path / key_digest({"split": "val"}), tmp_path / key_digest({"split": "test"})
    shutil.rmtree(val)
    shutil.copytree(test, val)  # test's files and manifest now stand where val's were
    again = cached_arrays(tmp_path, {"split": "val"}, lambda: {"x": np.zeros(3)})
    assert again["x"].sum() == 0


def test_teachers_are_keyed_on_the_file_contents(tmp_path: Path) -> None:
    from sharenas.runs.partition_eval import teacher_folder

    csv = write_table(tmp_path / "shop.csv")
    raw = {"data": {"name": "tabular-csv", "path": str(csv), "targets": {"sold": "binary"}}}
    before = teacher_folder(build_config(raw))
    frame = pd.read_csv(csv)
    frame.assign(price=np.random.default_rng(1).normal(size=len(frame))).to_csv(csv, index=False)
    assert teacher_folder(build_config(raw)) != before


def test_an_auto_run_resumed_with_another_config_is_refused(tmp_path: Path) -> None:
    from sharenas.workflows.auto import AutoState, _check_same
    from sharenas.workflows.auto_plan import AutoPlan

    data = {"name": "synthetic-mmoe", "train_size": 50, "val_size": 10, "test_size": 10}
    config = build_config({"data": data})
    plan = AutoPlan(1e6, "given")
    state = AutoState(tmp_path, {"plan": plan.to_dict(), "eta": 3})
    _check_same(state, plan, 3, config, "thorough")  # a run without its config records it
    _check_same(state, plan, 3, config, "thorough")
    other = build_config({"data": {**data, "seed": 5}, "train": {"lr": 0.01}})
    with pytest.raises(SharenasError, match=r"another config \(different data.seed, train.lr\)"):
        _check_same(AutoState(tmp_path, {}), plan, 3, other, "thorough")


def test_resuming_a_finished_search_keeps_its_search_time(tmp_path: Path) -> None:
    from tests.conftest import tiny_image_task_set
    from tests.test_gradient_search import config, run_fusion_search

    data = tiny_image_task_set()
    first = run_fusion_search(config(epochs=1), tmp_path / "s", data=data)
    again = run_fusion_search(config(epochs=1), tmp_path / "s", data=data, resume=True)
    assert again["search_seconds"] == first["search_seconds"] > 0
