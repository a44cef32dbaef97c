"""New inputs for a trained model, from raw rows or files, encoded as its training data was:
a CSV or DataFrame of raw rows for a table (by column name, or in the raw file's column order
when that file has no header); a ``.npy`` array, a tensor or a folder of images for an image
model. Every mistake is a :class:`~sharenas.errors.DatasetError` naming the input and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sharenas.data.base import Inputs
from sharenas.data.preprocessing import ImageEncoding, Preprocessing, TableEncoding, encode_table
from sharenas.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def read_rows(path: Path, encoding: TableEncoding) -> pd.DataFrame:
    """A CSV of raw rows, all cells as text: with a header naming the model's columns, or (for a
    dataset whose raw file has none, such as census-income) in that file's column order."""
    import pandas as pd

    if path.is_dir() or path.suffix.lower() in (".npy", *IMAGE_SUFFIXES):
        raise _needs_csv(path, "is not a CSV", encoding)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file; give a CSV of rows to predict.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:
        raise _needs_csv(path, "is not a text file, so not a CSV", encoding) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path}: not a readable CSV ({exc}).") from None
    needed = {c.name for c in encoding.numeric} | {c.name for c in encoding.categorical}
    raw = encoding.raw_columns
    if raw and not needed & set(frame.columns):
        return _headerless(path, raw)
    header = _header(path)
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DatasetError(
            f"{path}: the header names {', '.join(map(repr, duplicated))} more than once; "
            "give every column one name."
        )
    if frame.empty:
        raise DatasetError(f"{path}: no rows to predict (a header alone); give at least one row.")
    return frame


def _needs_csv(path: Path, why: str, encoding: TableEncoding) -> DatasetError:
    """``path`` is not a table: the model reads one, a CSV naming (a few of) its columns."""
    columns = [c.name for c in encoding.numeric] + [c.name for c in encoding.categorical]
    shown = ", ".join(columns[:4]) + (", …" if len(columns) > 4 else "")
    raw = " (or the dataset's raw rows, without a header)" if encoding.raw_columns else ""
    return DatasetError(
        f"{path} {why}: this run's model reads tables; give a CSV of raw rows with a header "
        f"naming its {len(columns)} input columns ({shown}){raw}."
    )


def _headerless(path: Path, raw: list[str]) -> pd.DataFrame:
    """Rows without a header, in the column order of the dataset's raw file (a first row that
    repeats a value, as raw census rows do, is data, not a header)."""
    import pandas as pd

    frame = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skipinitialspace=True)
    if frame.shape[1] not in (len(raw), len(raw) - 1):
        raise DatasetError(
            f"{path}: {frame.shape[1]} columns without a header; the dataset's raw file has "
            f"{len(raw)} ({', '.join(raw[:4])}, …): give its rows, or a header row naming "
            "the columns."
        )
    frame.columns = raw[: frame.shape[1]]
    if frame.empty:
        raise DatasetError(f"{path}: no rows to predict; give at least one row.")
    return frame


def _header(path: Path) -> list[str]:
    """The first row of a CSV as written (pandas renames a repeated name ``a`` to ``a.1``)."""
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        return next(csv.reader(handle), [])


def image_array(array: Any, encoding: ImageEncoding, where: str) -> torch.Tensor:
    """Images (N, C, H, W), or (N, H, W) for one channel, as floats in [0, 1]: uint8 values are
    divided by 255; float values must already lie in [0, 1]."""
    tensor = torch.as_tensor(np.asarray(array))
    shape = (encoding.channels, encoding.height, encoding.width)
    if tensor.dim() == 3 and encoding.channels == 1:
        tensor = tensor.unsqueeze(1)
    if tensor.dim() != 4 or tuple(tensor.shape[1:]) != shape:
        raise DatasetError(
            f"{where}: images of shape {tuple(tensor.shape)}; the model reads (N, "
            f"{', '.join(map(str, shape))})"
            + (f" or (N, {shape[1]}, {shape[2]})" if encoding.channels == 1 else "")
            + "."
        )
    if tensor.shape[0] == 0:
        raise DatasetError(f"{where}: no images (an array of 0 rows); give at least one.")
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0)
    if not tensor.is_floating_point():
        raise DatasetError(f"{where}: images of dtype {tensor.dtype}; give uint8 or floats.")
    tensor = tensor.float()
    if not torch.isfinite(tensor).all():
        raise DatasetError(f"{where}: pixels that are NaN or infinite; give finite values.")
    if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
        raise DatasetError(
            f"{where}: float pixels outside [0, 1] (from {float(tensor.min()):.3g} to "
            f"{float(tensor.max()):.3g}); give uint8 0–255 or floats scaled to [0, 1]."
        )
    return tensor


def image_folder(folder: Path, encoding: ImageEncoding) -> tuple[torch.Tensor, list[str]]:
    """Every image file of ``folder`` (sorted by name), as :func:`image_array` reads them, and
    their names. Sizes must match the model's: nothing is resized silently."""
    from PIL import Image  # matplotlib's own dependency

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}).")
    mode = "L" if encoding.channels == 1 else "RGB"
    arrays = []
    for file in files:
        try:
            with Image.open(file) as image:  # reads the header only: the size before decoding
                if image.size != (encoding.width, encoding.height):
                    raise DatasetError(
                        f"{file}: {image.size[0]}×{image.size[1]} pixels; the model reads "
                        f"{encoding.width}×{encoding.height}: resize it first."
                    )
                array = np.asarray(image.convert(mode), dtype=np.uint8)
        except (OSError, Image.DecompressionBombError) as exc:
            raise DatasetError(f"{file}: not a readable image ({exc}).") from None
        arrays.append(array.reshape(encoding.height, encoding.width, -1).transpose(2, 0, 1))
    return image_array(np.stack(arrays), encoding, str(folder)), [p.name for p in files]


def encoded_inputs(
    source: Any, fitted: Preprocessing, unknown: str = "error"
) -> tuple[Inputs, list[str] | None]:
    """(the network's inputs, row names or None) from a path (CSV, ``.npy``, image folder), a
    DataFrame of raw rows, an array or tensor of images, or a dict of already encoded tensors."""
    import pandas as pd

    encoding = fitted.input
    if isinstance(source, dict):
        return {k: torch.as_tensor(v) for k, v in source.items()}, None
    if isinstance(source, str | Path):
        path = Path(source)
        if isinstance(encoding, TableEncoding):
            return encode_table(read_rows(path, encoding), encoding, str(path), unknown), None
        if path.is_dir():
            return image_folder(path, encoding)
        if path.suffix != ".npy" or not path.is_file():
            raise DatasetError(f"{path}: give a .npy array of images or a folder of images.")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: not a readable .npy array ({exc}).") from None
        return image_array(array, encoding, str(path)), None
    if isinstance(encoding, TableEncoding):
        if not isinstance(source, pd.DataFrame):
            raise DatasetError(
                "a table model predicts from a CSV path, a pandas DataFrame of raw rows or a "
                "dict of encoded tensors."
            )
        return encode_table(source, encoding, "the DataFrame", unknown), None
    return image_array(source, encoding, "the images"), None
