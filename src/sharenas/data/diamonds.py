"""Diamonds (ggplot2; Wickham, 2016): 53,940 round-cut diamonds, a real table with four targets.

Each row gives a diamond's weight and geometry (carat, depth %, table %, length x, width y, depth
z in mm), its price in US dollars and three graded qualities. The tasks, any subset of:

- ``price``: regression on the natural log of the price;
- ``cut``: 5 grades (Fair … Ideal); ``color``: 7 (D … J); ``clarity``: 8 (I1 … IF).

A graded quality that is not a task is a categorical feature; the price is never a feature. The
rows are split 80/10/10 by a fixed permutation (``split_seed``); features are encoded as
``tabular-csv`` encodes them (training medians and standardisation; training vocabularies).

The table is cached once as ``<cache>/diamonds/diamonds.npz`` and verified against a pinned
checksum of its arrays, whichever source it came from. Sources, in order: ``data_dir``
(``diamonds.csv``); ggplot2's ``data-raw/diamonds.csv`` on GitHub; the wheel ``plotnine==0.14.5``
(``plotnine/data/diamonds.csv``), read from the archive, never installed or imported.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from sharenas.cache import sha256_arrays
from sharenas.data.base import TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig, unique_tasks
from sharenas.data.derived import verified_npz
from sharenas.data.preprocessing import Preprocessing, TableEncoding, TargetEncoding
from sharenas.data.registry import register_dataset
from sharenas.data.sources import (
    Archive,
    LocalFolderSource,
    PackageIndexSource,
    Source,
    UrlSource,
    fetch_first,
    verify_sha256,
)
from sharenas.data.tabular_csv import TabularCsv, TabularCsvConfig
from sharenas.tasks.spec import TaskKind, TaskSpec

if TYPE_CHECKING:
    import pandas as pd

NUMERIC = ("carat", "depth", "table", "price", "x", "y", "z")
GRADES = {
    "cut": ("Fair", "Good", "Very Good", "Premium", "Ideal"),
    "color": ("D", "E", "F", "G", "H", "I", "J"),
    "clarity": ("I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"),
}
ARRAYS_SHA256 = "18072864d763e54f842bcb7284c9510eac1f79b44391b2d61ca51a35edade1cb"
FILE = "diamonds.csv"
CANONICAL = "https://raw.githubusercontent.com/tidyverse/ggplot2/main/data-raw/diamonds.csv"
FALLBACK = PackageIndexSource(
    project="plotnine",
    filename="plotnine-0.14.5-py3-none-any.whl",
    sha256="4a8bc4360732dd69a0263def4abab285ed8f0f4386186f1e44c642f2cea79b88",
    members={FILE: "plotnine/data/diamonds.csv"},
)
MANUAL_HELP = (
    "download diamonds.csv (ggplot2's data-raw/diamonds.csv: columns carat, cut, color, "
    "clarity, depth, table, price, x, y, z) into a folder and pass --data-dir FOLDER "
    "(config key data.data_dir)."
)
DiamondsTask = Literal["price", "cut", "color", "clarity"]
DiamondsArrays = dict[str, np.ndarray]


class DiamondsConfig(DatasetConfig):
    name: Literal["diamonds"] = "diamonds"
    tasks: list[DiamondsTask] = Field(
        default_factory=lambda: ["price", "cut", "color", "clarity"],
        description="Tasks to predict: price (log, regression), cut, color, clarity.",
    )
    split_seed: int = Field(0, ge=0, description="Seed of the 80/10/10 row permutation.")

    @field_validator("tasks")
    @classmethod
    def _unique(cls, tasks: list[str]) -> list[str]:
        return unique_tasks(tasks)


def parse_table(raw: bytes) -> DiamondsArrays:
    """The CSV as arrays: ``numeric`` (rows × carat, depth, table, price, x, y, z) and ``grades``
    (rows × cut, color, clarity, as text); a ValueError when a column or grade is unknown."""
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(raw))
    missing = [c for c in (*NUMERIC, *GRADES) if c not in frame.columns]
    if missing:
        raise ValueError(f"the diamonds table lacks columns {missing}")
    for column, levels in GRADES.items():
        unknown = set(frame[column].astype(str)) - set(levels)
        if unknown:
            raise ValueError(f"column {column!r} holds unknown grades {sorted(unknown)[:3]}")
    return {
        "numeric": frame[list(NUMERIC)].to_numpy(np.float64),
        "grades": frame[list(GRADES)].astype(str).to_numpy(dtype="<U9"),
    }


def _verified(archive: Archive) -> DiamondsArrays:
    arrays = parse_table(archive.read(FILE))
    verify_sha256(sha256_arrays(arrays), ARRAYS_SHA256, "diamonds arrays")
    return arrays


def diamonds_sources(data_dir: Path | None) -> list[tuple[Source, object]]:
    attempts: list[tuple[Source, object]] = []
    if data_dir is not None:
        attempts.append((LocalFolderSource(Path(data_dir), (FILE,)), _verified))
    attempts.append((UrlSource("canonical ggplot2 (GitHub)", {FILE: CANONICAL}), _verified))
    attempts.append((FALLBACK, _verified))
    return attempts


def frame_of(arrays: DiamondsArrays) -> pd.DataFrame:
    """The table with the price on a log scale."""
    import pandas as pd

    frame = pd.DataFrame(arrays["numeric"], columns=list(NUMERIC))
    frame["price"] = np.log(frame["price"])
    for i, column in enumerate(GRADES):
        frame[column] = arrays["grades"][:, i]
    return frame


@register_dataset
class Diamonds(DatasetBuilder):
    name = "diamonds"
    description = "ggplot2 diamonds: log price, cut, color, clarity from weight and geometry"
    license = "ggplot2: MIT"
    source = "ggplot2 data-raw/diamonds.csv, else the wheel plotnine==0.14.5"
    config_class = DiamondsConfig
    config: DiamondsConfig

    def tasks(self) -> list[TaskSpec]:
        return [
            TaskSpec(name=t, kind=TaskKind.REGRESSION)
            if t == "price"
            else TaskSpec(name=t, kind=TaskKind.CLASSIFICATION, num_classes=len(GRADES[t]))
            for t in self.config.tasks
        ]

    def split_sizes(self) -> dict[str, int]:
        return {"train": 43_152, "val": 5_394, "test": 5_394}

    def path(self) -> Path:
        return self.cache_dir / "diamonds.npz"

    def is_cached(self) -> bool:
        return self.path().exists()

    def arrays(self) -> DiamondsArrays:
        return verified_npz(
            self.path(),
            ("numeric", "grades"),
            ARRAYS_SHA256,
            lambda: fetch_first(self.name, diamonds_sources(self.config.data_dir), MANUAL_HELP),  # type: ignore[arg-type]
        )

    def fetch(self) -> None:
        self.arrays()

    def _load(self) -> TaskSetData:
        tasks = list(self.config.tasks)
        table = TabularCsv(
            TabularCsvConfig(
                path=self.path(),
                targets={t: "regression" if t == "price" else "classification" for t in tasks},
                categorical=[c for c in GRADES if c not in tasks],
                drop=[] if "price" in tasks else ["price"],
                split_seed=self.config.split_seed,
            )
        )
        frame = frame_of(self.arrays())
        for column, levels in GRADES.items():  # classes in grade order, not alphabetical
            frame[column] = frame[column].map({v: i for i, v in enumerate(levels)})
        data = table.from_frame(frame, self.name)
        data.preprocessing = grade_names(data.preprocessing)
        return data


def grade_names(fitted: Preprocessing | None) -> Preprocessing:
    """The fitted encoding with grades by name (the table held their ranks), so that raw rows
    of ``diamonds.csv`` are read as they are; the price in log US dollars."""
    assert fitted is not None and isinstance(fitted.input, TableEncoding)
    columns = [
        c.model_copy(update={"vocabulary": [GRADES[c.name][int(v)] for v in c.vocabulary]})
        if c.name in GRADES
        else c
        for c in fitted.input.categorical
    ]
    targets = [
        TargetEncoding(name=t.name, classes=list(GRADES[t.name]))
        if t.name in GRADES
        else TargetEncoding(name=t.name, unit="log US dollars")
        for t in fitted.targets
    ]
    encoding = fitted.input.model_copy(update={"categorical": columns})
    return Preprocessing(input=encoding, targets=targets)
