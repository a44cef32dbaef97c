"""The diamonds task set from a file the user has: parsing, checks, features and targets."""

from pathlib import Path

import numpy as np
import pytest

from sharenas.config import build_config
from sharenas.data import create_dataset
from sharenas.data.diamonds import parse_table
from sharenas.errors import DataSourceError

HEADER = '"carat","cut","color","clarity","depth","table","price","x","y","z"\n'
ROWS = [  # every cut grade, so codes follow the grade order
    '0.23,"Ideal","E","SI2",61.5,55,326,3.95,3.98,2.43',
    '0.21,"Premium","E","SI1",59.8,61,326,3.89,3.84,2.31',
    '0.29,"Fair","J","IF",62.4,58,2000,4.2,4.23,2.63',
    '0.3,"Good","D","VS1",63.3,58,335,4.34,4.35,2.75',
    '0.4,"Very Good","H","VVS2",62.0,57,900,4.8,4.7,2.9',
]


def test_parse_keeps_numbers_and_grades() -> None:
    arrays = parse_table((HEADER + "\n".join(ROWS) + "\n").encode())
    assert arrays["numeric"].shape == (5, 7) and arrays["numeric"][2, 3] == 2000
    assert arrays["grades"][2].tolist() == ["Fair", "J", "IF"] and len(arrays["grades"]) == 5


def test_unknown_grade_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown grades"):
        parse_table((HEADER + ROWS[0].replace("Ideal", "Superb") + "\n").encode())


def test_a_file_with_other_content_fails_its_checksum(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHARENAS_OFFLINE", "1")
    (tmp_path / "diamonds.csv").write_text(HEADER + "\n".join(ROWS) + "\n")
    config = build_config({"data": {"name": "diamonds", "data_dir": str(tmp_path)}})
    with pytest.raises(DataSourceError, match="checksum mismatch for diamonds arrays"):
        create_dataset(config.data, cache_dir=tmp_path / "cache").load()


def test_grades_that_are_not_tasks_become_features(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sharenas.data.diamonds as diamonds

    table = HEADER + "\n".join(ROWS * 10) + "\n"
    monkeypatch.setattr(diamonds, "ARRAYS_SHA256", _sha(table))
    (tmp_path / "diamonds.csv").write_text(table)
    config = build_config(
        {
            "data": {"name": "diamonds", "data_dir": str(tmp_path), "tasks": ["price", "cut"]},
        }
    )
    data = create_dataset(config.data, cache_dir=tmp_path / "cache").load()
    assert [t.name for t in data.tasks] == ["price", "cut"]
    assert data.input_spec.categorical_names == ("color", "clarity")
    assert "price" not in data.input_spec.numeric_names
    prices = np.exp(data.train.targets["price"].numpy())
    assert set(np.round(prices).astype(int)) <= {326, 2000, 335, 900}
    prices_of_cut = dict(zip(data.train.targets["cut"].tolist(), np.round(prices), strict=True))
    assert prices_of_cut[0] == 2000 and prices_of_cut[1] == 335  # codes in grade order
    assert prices_of_cut[2] == 900 and prices_of_cut[4] == 326


def _sha(table: str) -> str:
    from sharenas.cache import sha256_arrays

    return sha256_arrays(parse_table(table.encode()))
