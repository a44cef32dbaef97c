"""tabular-csv: any CSV file, with target columns and their kinds declared in the config.

Example::

    data:
      name: tabular-csv
      path: patients.csv
      targets: {readmitted: binary, length_of_stay: regression, ward: classification}
      categorical: [hospital]      # default: every non-numeric column
      drop: [patient_id]
      split_column: null           # or a column holding train / val / test
      val_fraction: 0.1
      test_fraction: 0.1

Rows are split by ``split_column`` when given, else by a permutation seeded by ``split_seed``.
Numeric features: missing values take the training median, the columns listed in ``log1p`` are
read as log(1 + max(x, 0)), then every column is standardised with the
training mean and standard deviation. Categorical features are encoded by their training
vocabulary (code 0 = unseen in training). Binary targets map their two values in sorted order to
0 and 1; classification targets map their sorted values to 0..K−1. An empty target cell is a
missing label: that row is left out of the task's loss and metrics (partial labels).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from sharenas.data.base import SPLITS, InputSpec, MultiTaskDataset, TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig
from sharenas.data.preprocessing import (
    CategoricalColumn,
    NumericColumn,
    Preprocessing,
    TableEncoding,
    TargetEncoding,
    numeric_statistics,
)
from sharenas.data.registry import register_dataset
from sharenas.errors import DatasetError
from sharenas.tasks.labels import MISSING_CLASS
from sharenas.tasks.spec import TaskKind, TaskSpec

if TYPE_CHECKING:
    import pandas as pd

TabularKind = Literal["classification", "binary", "regression"]
MAX_CLASSES = 1000


class TabularCsvConfig(DatasetConfig):
    name: Literal["tabular-csv"] = "tabular-csv"
    path: Path = Field(description="The CSV file (with a header row).")
    targets: dict[str, TabularKind] = Field(
        description="Target columns and their kinds: classification, binary or regression."
    )
    categorical: list[str] | None = Field(
        None, description="Feature columns to treat as categorical (default: non-numeric ones)."
    )
    drop: list[str] = Field(default_factory=list, description="Columns to ignore.")
    log1p: list[str] = Field(
        default_factory=list,
        description="Numeric feature columns read as log(1 + max(x, 0)) before standardising "
        "(money-like, heavy-tailed columns, as census-income's money columns).",
    )
    split_column: str | None = Field(None, description="Column with values train/val/test.")
    val_fraction: float = Field(0.1, gt=0, lt=1)
    test_fraction: float = Field(0.1, gt=0, lt=1)
    split_seed: int = Field(0, ge=0)
    separator: str = Field(",", min_length=1)

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        """An absolute path, so that a run folder's recorded config reads the same file from any
        folder: a config file's relative path was resolved from the file's folder before
        validation (:func:`sharenas.config.paths_from_file`); any other (``--set``, the Python
        API) is the working folder's."""
        return Path(os.path.abspath(path.expanduser()))

    @model_validator(mode="after")
    def _check(self) -> TabularCsvConfig:
        if not self.targets:
            raise ValueError("declare at least one target column in targets")
        if self.split_column is None and self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction + test_fraction must be below 1")
        return self


def _refuse_repeated_names(path: Path, separator: str) -> None:
    """A header that names a column twice (pandas would rename the second ``a`` to ``a.1``)."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle, delimiter=separator), [])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DatasetError(
            f"{path}: the header names {', '.join(map(repr, repeated))} more than once; give "
            "every column one name."
        )


def _refuse_missing_markers(
    path: Path, separator: str, frame: pd.DataFrame, targets: list[str]
) -> None:
    """A missing label is an empty cell: text that pandas would read as missing ("NA", "None",
    "null", "nan"…) in a target column is refused, naming it, since it may be a class."""
    import pandas as pd

    gaps = [t for t in targets if frame[t].isna().any()]
    if not gaps:
        return
    raw = pd.read_csv(path, sep=separator, usecols=gaps, dtype=str, keep_default_na=False)
    for column in gaps:
        text = raw[column][frame[column].isna().to_numpy()].str.strip()
        marked = text[text != ""]
        if len(marked):
            raise DatasetError(
                f"{path}: target column {column!r} holds {marked.iloc[0]!r} in {len(marked):,} "
                "cells, which reads as missing; a missing label is an empty cell. Leave those "
                "cells empty, or, if it is a value, rename it (e.g. 'none')."
            )


def _check_finite(encoded: np.ndarray, numeric: list[str], frame: pd.DataFrame) -> None:
    """Every standardised numeric cell is finite: an empty column has no median, and a value
    like 1e308 overflows 32-bit floats (training would end in a NaN loss)."""
    bad = ~np.isfinite(encoded)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        name = numeric[col]
        raise DatasetError(
            f"data.path: column {name!r} holds {frame[name].iloc[row]!r} in data row {row + 1}, "
            "which sharenas cannot standardise (an empty column, or a value beyond 32-bit "
            "floats); fix the column, or list it in data.drop."
        )


def _missing_column_error(path: Path, key: str, column: str, columns: list[str]) -> DatasetError:
    close = difflib.get_close_matches(column, columns, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return DatasetError(
        f"{path}: column {column!r} named in data.{key} is not in the file.{hint} "
        f"Columns: {', '.join(columns)}."
    )


def encode_target(
    path: Path, column: str, kind: str, values: pd.Series
) -> tuple[np.ndarray, str, list[str] | None]:
    """Target array, a note on its encoding and the class names by index (binary: the values
    read as 0 and 1); a DatasetError when ``kind`` does not fit. An empty cell is a missing
    label (NaN; ``MISSING_CLASS`` for classes): the task's loss and metrics leave that row out."""

    where = f"{path}: target column {column!r} (data.targets.{column} = {kind})"
    missing = values.isna().to_numpy()
    if missing.all():
        raise DatasetError(f"{where} has no value at all; fill it, or leave the task out.")
    values = values[~missing]
    encoded, note, names = _encode_present(where, kind, values)
    if not missing.any():
        return encoded, note, names
    full = np.full(len(missing), MISSING_CLASS if kind == "classification" else np.nan)
    full[~missing] = encoded
    note += f", {int(missing.sum()):,} missing (left out of the task's loss and metrics)"
    return full.astype(encoded.dtype), note, names


def _encode_present(
    where: str, kind: str, values: pd.Series
) -> tuple[np.ndarray, str, list[str] | None]:
    """:func:`encode_target` of the cells that hold a value."""
    import pandas as pd

    whole = pd.api.types.is_float_dtype(values) and np.all(np.mod(values, 1) == 0)
    if kind != "regression" and whole:  # whole numbers read as floats beside empty cells
        values = values.astype(np.int64)
    if kind == "regression":
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            bad = values[numbers.isna()].iloc[0]
            raise DatasetError(
                f"{where} holds non-numeric values such as {bad!r}; "
                "declare it classification or binary."
            )
        infinite = np.isinf(numbers.to_numpy(np.float64))
        if infinite.any():
            raise DatasetError(
                f"{where} holds {int(infinite.sum())} infinite values (first in data row "
                f"{int(np.argmax(infinite)) + 1}); replace them or drop those rows."
            )
        return numbers.to_numpy(np.float32), "real values", None
    levels = sorted(values.unique(), key=lambda v: (str(type(v)), v))
    if kind == "binary":
        if len(levels) != 2:
            shown = ", ".join(repr(v) for v in levels[:5])
            raise DatasetError(
                f"{where} has {len(levels)} distinct values ({shown}…); a binary "
                "target has exactly 2: declare it classification or regression."
            )
        encoded = (values == levels[1]).to_numpy(np.float32)
        return encoded, f"{levels[0]!r}→0, {levels[1]!r}→1", [str(v) for v in levels]
    if pd.api.types.is_float_dtype(values) and not np.all(np.mod(values, 1) == 0):
        raise DatasetError(f"{where} holds non-integer numbers; declare it regression.")
    if not 2 <= len(levels) <= MAX_CLASSES:
        raise DatasetError(
            f"{where} has {len(levels)} classes; classification needs 2 to {MAX_CLASSES}."
        )
    mapping = {v: i for i, v in enumerate(levels)}
    names = [str(v) for v in levels]
    return values.map(mapping).to_numpy(np.int64), f"{len(levels)} classes", names


@register_dataset
class TabularCsv(DatasetBuilder):
    name = "tabular-csv"
    description = "any CSV file; targets and their kinds declared in the config"
    license = "yours"
    source = "data.path (your file)"
    config_class = TabularCsvConfig
    config: TabularCsvConfig

    def tasks(self) -> list[TaskSpec]:
        return self._tasks_from_levels(None)

    def _tasks_from_levels(self, classes: dict[str, int] | None) -> list[TaskSpec]:
        specs = []
        for column, kind in self.config.targets.items():
            n = (classes or {}).get(column, 2) if kind == "classification" else None
            specs.append(TaskSpec(name=column, kind=TaskKind(kind), num_classes=n))
        return specs

    def is_cached(self) -> bool:
        return self.config.path.exists()

    def location(self) -> Path:
        return self.config.path

    def _read(self) -> pd.DataFrame:
        import pandas as pd

        path = self.config.path
        if not path.is_file():
            raise DatasetError(
                f"data.path: {path} does not exist (a relative data.path is read from the config "
                "file's folder; given with --set or in Python, from the working folder); give the "
                "path of your CSV."
            )
        try:
            frame = pd.read_csv(path, sep=self.config.separator)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DatasetError(f"{path}: not a readable CSV ({exc}).") from None
        columns = [str(c) for c in frame.columns]
        _refuse_repeated_names(path, self.config.separator)
        frame.columns = columns
        named = {
            "targets": list(self.config.targets),
            "drop": self.config.drop,
            "categorical": self.config.categorical or [],
            "log1p": self.config.log1p,
        }
        if self.config.split_column is not None:
            named["split_column"] = [self.config.split_column]
        for key, names in named.items():
            for column in names:
                if column not in columns:
                    raise _missing_column_error(path, key, column, columns)
        _refuse_missing_markers(path, self.config.separator, frame, list(self.config.targets))
        return frame

    def _split_rows(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        c = self.config
        if c.split_column is not None:
            labels = frame[c.split_column].astype(str).str.strip().str.lower()
            unknown = sorted(set(labels) - set(SPLITS))
            if unknown:
                raise DatasetError(
                    f"{c.path}: split column {c.split_column!r} holds {unknown}; "
                    "allowed values are train, val, test."
                )
            rows = {split: np.nonzero((labels == split).to_numpy())[0] for split in SPLITS}
        else:
            order = np.random.default_rng(c.split_seed).permutation(len(frame))
            n_val, n_test = round(len(frame) * c.val_fraction), round(len(frame) * c.test_fraction)
            rows = {
                "val": np.sort(order[:n_val]),
                "test": np.sort(order[n_val : n_val + n_test]),
                "train": np.sort(order[n_val + n_test :]),
            }
        for split, index in rows.items():
            if index.size == 0:
                raise DatasetError(
                    f"{c.path}: the {split} split is empty; add rows or change "
                    "data.val_fraction / data.test_fraction / data.split_column."
                )
        return rows

    def _feature_columns(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        """(numeric, categorical) feature columns: every column but the targets, the dropped
        ones and the split column; categorical as declared, else the non-numeric ones."""
        import pandas as pd

        c = self.config
        excluded = set(c.targets) | set(c.drop) | {c.split_column}
        features = [col for col in frame.columns if col not in excluded]
        if not features:
            raise DatasetError(f"{c.path}: no feature columns are left after targets and drop.")
        declared = set(c.categorical) if c.categorical is not None else None
        categorical = [
            col
            for col in features
            if (
                col in declared
                if declared is not None
                else not pd.api.types.is_numeric_dtype(frame[col])
            )
        ]
        numeric = [col for col in features if col not in categorical]
        for col in numeric:
            if not pd.api.types.is_numeric_dtype(frame[col]):
                raise DatasetError(
                    f"{c.path}: feature column {col!r} is not numeric; list it in "
                    "data.categorical or data.drop."
                )
            infinite = np.isinf(frame[col].to_numpy(np.float64))
            if infinite.any():
                raise DatasetError(
                    f"{c.path}: feature column {col!r} holds {int(infinite.sum())} infinite "
                    f"values (first in data row {int(np.argmax(infinite)) + 1}); replace them "
                    "with numbers, or leave the cells empty (filled with the training median)."
                )
        return numeric, categorical

    @staticmethod
    def _encode(
        frame: pd.DataFrame,
        train: np.ndarray,
        numeric: list[str],
        categorical: list[str],
        log1p: list[str] = (),  # type: ignore[assignment]
    ) -> tuple[dict[str, torch.Tensor], TableEncoding]:
        """Numeric columns: missing values filled with the training median, standardised with
        the training rows' statistics; categorical ones: codes of the training vocabulary (0:
        unseen). Returns (every row's inputs, the fitted encoding)."""
        medians = frame.iloc[train][numeric].median()
        filled = frame[numeric].fillna(medians).to_numpy(np.float64, copy=True)
        logged = [i for i, col in enumerate(numeric) if col in log1p]
        if logged:
            filled[:, logged] = np.log1p(np.maximum(filled[:, logged], 0.0))
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, column named
            mean, std = numeric_statistics(filled[train])
        encoding = TableEncoding(
            numeric=[
                NumericColumn(
                    name=col,
                    mean=float(m),
                    std=float(s),
                    fill=float(medians[col]),
                    log1p=col in log1p,
                )
                for col, m, s in zip(numeric, mean, std, strict=True)
            ],
            categorical=[
                CategoricalColumn(
                    # an empty cell is no word of the vocabulary: it takes code 0, as unseen
                    name=col,
                    vocabulary=sorted(frame[col].astype(str).iloc[train].dropna().unique()),
                )
                for col in categorical
            ],
        )
        with np.errstate(over="ignore", invalid="ignore"):
            numeric_inputs = ((filled - mean) / std).astype(np.float32)
        _check_finite(numeric_inputs, numeric, frame)
        inputs = {"numeric": torch.from_numpy(numeric_inputs)}
        codes = [
            frame[col].astype(str).map({v: i + 1 for i, v in enumerate(c.vocabulary)}).fillna(0)
            for col, c in zip(categorical, encoding.categorical, strict=True)
        ]
        inputs["categorical"] = torch.from_numpy(
            np.stack([c.to_numpy(np.int64) for c in codes], 1)
            if codes
            else np.zeros((len(frame), 0), np.int64)
        )
        return inputs, encoding

    def _load(self) -> TaskSetData:
        return self.from_frame(self._read(), self.name)

    def from_frame(self, frame: pd.DataFrame, name: str) -> TaskSetData:
        """The task set of a table already read (its columns checked against the config),
        named ``name``: the splits, the encoded features and targets."""
        c = self.config
        targets, notes, classes, names = {}, {}, {}, {}
        for column, kind in c.targets.items():
            targets[column], notes[column], names[column] = encode_target(
                c.path, column, kind, frame[column]
            )
            if kind == "classification":
                classes[column] = int(targets[column].max()) + 1
        rows = self._split_rows(frame)
        numeric, categorical = self._feature_columns(frame)
        bad = [col for col in c.log1p if col not in numeric]
        if bad:
            raise DatasetError(
                f"{c.path}: data.log1p names {bad}, which are not numeric feature columns; "
                f"list columns among {numeric}."
            )
        encoded, encoding = self._encode(frame, rows["train"], numeric, categorical, c.log1p)
        tasks = self._tasks_from_levels(classes)
        splits = {}
        for split, index in rows.items():
            inputs = {key: value[torch.from_numpy(index)] for key, value in encoded.items()}
            split_targets = {
                name: torch.from_numpy(array[index]) for name, array in targets.items()
            }
            splits[split] = MultiTaskDataset(inputs, split_targets, tasks)
        spec = InputSpec(
            kind="tabular",
            num_numeric=len(numeric),
            categorical_cardinalities=tuple(len(e.vocabulary) + 1 for e in encoding.categorical),
            numeric_names=tuple(numeric),
            categorical_names=tuple(categorical),
        )
        targets_record = [TargetEncoding(name=t, classes=names[t]) for t in c.targets]
        fitted = Preprocessing(input=encoding, targets=targets_record)
        return TaskSetData(name, tasks, spec, splits, notes=notes, preprocessing=fitted)
