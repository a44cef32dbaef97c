"""The fitted preprocessing of a task set, kept with every run so that a model is rebuilt and fed
new raw rows without the dataset: a table's numeric statistics and category vocabularies, an
image's shape and pixel scale, and the meaning of each task's outputs (class names).

:func:`encode_table` applies a table's record to raw rows exactly as the dataset encoded its
training rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.data.base import InputSpec
from sharenas.errors import DatasetError
from sharenas.tasks.spec import TaskSpec

if TYPE_CHECKING:
    import pandas as pd


class NumericColumn(BaseModel):
    """One numeric feature: ``(log1p(max(x, 0)) if log1p else x, missing → fill) − mean) / std``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    mean: float
    std: float
    log1p: bool = False
    fill: float | None = Field(None, description="The training median given to empty cells.")


class CategoricalColumn(BaseModel):
    """One categorical feature: code ``i + 1`` for ``vocabulary[i]``, 0 for a value never seen in
    training."""

    model_config = ConfigDict(extra="forbid")

    name: str
    vocabulary: list[str]


class TableEncoding(BaseModel):
    """How a table's raw columns become the network's ``numeric`` and ``categorical`` inputs."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tabular"] = "tabular"
    numeric: list[NumericColumn] = Field(default_factory=list)
    categorical: list[CategoricalColumn] = Field(default_factory=list)
    raw_columns: list[str] = Field(
        default_factory=list,
        description="The columns of the dataset's raw file, in order, when it has no header.",
    )


class ImageEncoding(BaseModel):
    """An image input: ``channels × height × width`` pixels, stored as 0–255 and read in [0, 1]."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image"] = "image"
    channels: int
    height: int
    width: int


class TargetEncoding(BaseModel):
    """What a task's outputs mean: class names by index (classification, segmentation), the
    negative and positive value (binary), a unit (regression)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    classes: list[str] | None = None
    unit: str | None = None


class Preprocessing(BaseModel):
    """A task set's fitted preprocessing (``inputs.json`` of a run folder holds one)."""

    model_config = ConfigDict(extra="forbid")

    input: TableEncoding | ImageEncoding = Field(discriminator="kind")
    targets: list[TargetEncoding] = Field(default_factory=list)

    def classes(self, task: str) -> list[str] | None:
        return next((t.classes for t in self.targets if t.name == task), None)


def default_preprocessing(spec: InputSpec, tasks: list[TaskSpec]) -> Preprocessing:
    """The record of a dataset that keeps no fitted statistics: images as stored (0–255 scaled
    to [0, 1]); numeric columns read as they are (generated data); class ``k`` named ``"k"``."""
    if spec.kind == "image":
        assert spec.channels and spec.height and spec.width
        encoding: TableEncoding | ImageEncoding = ImageEncoding(
            channels=spec.channels, height=spec.height, width=spec.width
        )
    else:
        if spec.categorical_cardinalities:
            raise DatasetError(
                "a table with categorical columns must record its vocabularies "
                "(TaskSetData.preprocessing)."
            )
        encoding = TableEncoding(
            numeric=[NumericColumn(name=n, mean=0.0, std=1.0) for n in spec.numeric_names]
        )
    return Preprocessing(input=encoding, targets=default_targets(tasks))


def default_targets(tasks: list[TaskSpec]) -> list[TargetEncoding]:
    """Class ``k`` of every classification or segmentation task named ``"k"``."""
    return [
        TargetEncoding(
            name=t.name,
            classes=[str(k) for k in range(t.num_classes)] if t.num_classes else None,
        )
        for t in tasks
    ]


def numeric_statistics(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and standard deviation per column (a constant column: std 1)."""
    mean, std = block.mean(0), block.std(0)
    std[std == 0] = 1.0
    return mean, std


def _numeric(frame: pd.DataFrame, column: NumericColumn, where: str) -> np.ndarray:
    import pandas as pd

    cells = frame[column.name]
    values = pd.to_numeric(cells, errors="coerce")
    empty = cells.isna() | (cells.astype(str).str.strip() == "")
    bad = values.isna() & ~empty
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DatasetError(
            f"{where}: column {column.name!r} holds {cells.iloc[row]!r} in data row "
            f"{row + 1}, not a number; fix the value or leave the cell empty."
        )
    if values.isna().any():
        if column.fill is None:
            row = int(np.argmax(values.isna().to_numpy()))
            raise DatasetError(
                f"{where}: column {column.name!r} is empty in data row {row + 1}; this model "
                "was trained without missing values there: give a number."
            )
        values = values.fillna(column.fill)
    array = values.to_numpy(np.float64)
    if column.log1p:
        array = np.log1p(np.maximum(array, 0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        encoded = ((array - column.mean) / column.std).astype(np.float32)
    if not np.isfinite(encoded).all():
        row = int(np.argmax(~np.isfinite(encoded)))
        raise DatasetError(
            f"{where}: column {column.name!r} holds {cells.iloc[row]!r} in data row {row + 1}, "
            "beyond what the model reads (not finite once standardised in 32-bit floats); "
            "fix the value."
        )
    return encoded


def _codes(frame: pd.DataFrame, column: CategoricalColumn, where: str, unknown: str) -> np.ndarray:
    mapping = {value: i + 1 for i, value in enumerate(column.vocabulary)}
    values = frame[column.name].astype(str)
    codes = values.map(mapping)
    if unknown == "error" and codes.isna().any():
        row = int(np.argmax(codes.isna().to_numpy()))
        shown = ", ".join(repr(v) for v in column.vocabulary[:8])
        raise DatasetError(
            f"{where}: column {column.name!r} holds {values.iloc[row]!r} in data row {row + 1}, "
            f"a category never seen in training (known: {shown}"
            f"{' …' if len(column.vocabulary) > 8 else ''}); fix it, or pass --unknown zero "
            "to encode unseen categories as the model's 'unseen' code, as its val and test rows "
            "were."
        )
    return codes.fillna(0).to_numpy(np.int64)


def encode_table(
    frame: pd.DataFrame, encoding: TableEncoding, where: str, unknown: str = "error"
) -> dict[str, torch.Tensor]:
    """Raw rows (one column per feature, by name; other columns ignored) as the network's
    inputs. A missing column, a non-number or (with ``unknown="error"``) an unseen category is a
    :class:`DatasetError` naming ``where``, the column and the row."""
    needed = [c.name for c in encoding.numeric] + [c.name for c in encoding.categorical]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))}; the model reads "
            f"{', '.join(needed)}."
        )
    rows = len(frame)
    numeric = [_numeric(frame, c, where) for c in encoding.numeric]
    codes = [_codes(frame, c, where, unknown) for c in encoding.categorical]
    inputs = {}
    if numeric:
        inputs["numeric"] = torch.from_numpy(np.stack(numeric, 1))
    if codes:
        inputs["categorical"] = torch.from_numpy(np.stack(codes, 1))
    if not inputs:
        inputs["numeric"] = torch.zeros(rows, 0)
    return inputs
