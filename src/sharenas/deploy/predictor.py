"""A trained or searched model, loaded from its run folder alone, and its predictions on new
inputs (the API behind ``sharenas predict``).

::

    loaded = sharenas.load_model("runs/census-income/mmoe")
    predictions = loaded.predict("new_people.csv")      # raw rows, encoded as in training
    predictions.table()                                  # one row per input, columns per task
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from sharenas.backbones.pretrained import weights_skipped
from sharenas.config import Config
from sharenas.data.base import Inputs
from sharenas.deploy.graph import PredictionGraph, as_tuple
from sharenas.deploy.inputs import encoded_inputs
from sharenas.engine.checkpoint import load_weights
from sharenas.errors import SharenasError
from sharenas.resources import delivered
from sharenas.runs.folder import BEST, delivered_run, load_run
from sharenas.runs.inputs import RunInputs, read_inputs
from sharenas.runs.training import build_network
from sharenas.tasks import TaskHandler
from sharenas.tasks.spec import TaskKind

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Predictions:
    """Per task, its arrays: ``probability`` (binary), ``probabilities`` and ``class``
    (classification, segmentation), ``value`` (regression, depth), ``normal`` (normals)."""

    tasks: dict[str, dict[str, np.ndarray]]
    classes: dict[str, list[str] | None]
    names: list[str] | None = None  # the inputs' names (image files)

    def dense_tasks(self) -> list[str]:
        """The tasks predicted per pixel (segmentation, depth, normals): written as ``TASK.npy``,
        left out of :meth:`table`."""
        return [t for t, arrays in self.tasks.items() if next(iter(arrays.values())).ndim > 2]

    def table(self) -> pd.DataFrame:
        """One row per input: ``TASK`` (probability, value or class name) and, for a
        classification task, ``TASK:p(CLASS)`` per class; dense tasks are left out (their
        arrays are in :attr:`tasks`)."""
        import pandas as pd

        columns: dict[str, Any] = {}
        if self.names is not None:
            columns["input"] = self.names
        dense = self.dense_tasks()
        for task, arrays in self.tasks.items():
            if task in dense:
                continue
            if "probabilities" in arrays:
                count = arrays["probabilities"].shape[1]
                names = self.classes.get(task) or [str(k) for k in range(count)]
                columns[task] = [names[k] for k in arrays["class"]]
                for k, name in enumerate(names):
                    columns[f"{task}:p({name})"] = arrays["probabilities"][:, k]
            else:
                values = arrays.get("probability", arrays.get("value"))
                assert values is not None
                if values.ndim == 1:
                    columns[task] = values
                else:
                    for d in range(values.shape[1]):
                        columns[f"{task}[{d}]"] = values[:, d]
        return pd.DataFrame(columns)


def task_arrays(handler: TaskHandler, prediction: torch.Tensor) -> dict[str, np.ndarray]:
    """A task's activated output as named arrays (see :class:`Predictions`)."""
    array = prediction.detach().cpu().numpy()
    kind = handler.spec.kind
    if kind is TaskKind.BINARY:
        return {"probability": array}
    if kind in (TaskKind.CLASSIFICATION, TaskKind.SEGMENTATION):
        return {"probabilities": array, "class": array.argmax(1)}
    if kind is TaskKind.NORMAL:
        return {"normal": array}
    if kind is TaskKind.DEPTH:
        return {"value": array[:, 0]}
    return {"value": array}


def _rows(inputs: Inputs) -> int:
    return len(inputs) if isinstance(inputs, torch.Tensor) else len(next(iter(inputs.values())))


def _slice(inputs: Inputs, rows: slice) -> Inputs:
    if isinstance(inputs, torch.Tensor):
        return inputs[rows]
    return {k: v[rows] for k, v in inputs.items()}


@dataclass
class LoadedModel:
    """A run's delivered network in eval mode on the CPU, what it reads and predicts, and
    :meth:`predict`."""

    folder: Path
    config: Config
    inputs: RunInputs
    model: nn.Module
    handlers: list[TaskHandler] = field(repr=False)

    def graph(self) -> PredictionGraph:
        """The network with positional inputs and one activated output per task (for export)."""
        return PredictionGraph(self.model, self.handlers, self.inputs.input_spec).eval()

    def predict(
        self, source: Any, *, unknown: str = "error", batch_size: int | None = None
    ) -> Predictions:
        """Predictions for ``source``: a CSV path or DataFrame of raw rows (table models), a
        ``.npy`` path, a folder of images or an array (image models), or a dict of tensors
        already encoded. ``unknown="zero"`` encodes categories never seen in training as the
        model's 'unseen' code instead of refusing them."""
        fitted = self.inputs.preprocessing
        inputs, names = encoded_inputs(source, fitted, unknown)
        graph, size = self.graph(), batch_size or self.config.train.eval_batch_size
        outputs: list[tuple[torch.Tensor, ...]] = []
        with torch.no_grad():
            for start in range(0, _rows(inputs), size):
                part = as_tuple(self.inputs.input_spec, _slice(inputs, slice(start, start + size)))
                outputs.append(graph(*part))
        tasks = {
            h.name: task_arrays(h, torch.cat([o[i] for o in outputs]))
            for i, h in enumerate(self.handlers)
        }
        classes = {t.name: fitted.classes(t.name) for t in self.inputs.tasks}
        return Predictions(tasks, classes, names)


def load_model(folder: str | Path) -> LoadedModel:
    """The delivered model of a run folder (a training run, a search's ``search/`` folder, a
    partition point trained with ``--arch``), rebuilt from the folder alone: ``config.yaml``,
    ``inputs.json`` and ``best.pt`` (read as tensors only; nothing in the folder is run, and the
    dataset, with any module that registers it, is not needed); a search's folder stands for
    the run it delivers (a partition search's: its chosen point, ``search/model``)."""
    folder = delivered_run(Path(folder))
    config, _ = load_run(folder, dataset_needed=False)
    inputs = read_inputs(folder)
    if inputs is None:
        raise SharenasError(
            f"{folder}: no inputs.json (the run predates it); retrain the run with this "
            "version, or rebuild it from its data with sharenas.load_run(folder).model."
        )
    weights = folder / BEST
    if not weights.exists():
        raise SharenasError(f"{folder}: no {BEST}; the run has not finished an epoch.")
    with weights_skipped():  # best.pt holds the weights: no pretrained download or file read
        model, handlers = build_network(config, inputs.tasks, inputs.input_spec, inputs.shape)
    load_weights(model, weights, "cpu")
    return LoadedModel(folder, config, inputs, delivered(model.eval()).eval(), handlers)


def write_predictions(
    predictions: Predictions,
    out: Path,
    *,
    force: bool = False,
    inputs: list[Path] | tuple[Path, ...] = (),
) -> list[Path]:
    """``out.csv``: the table; any other ``out``: a folder with ``predictions.csv`` and one
    ``TASK.npy`` per dense task. Every file is written atomically; returns them. ``inputs``
    (the rows, the run's files) are never written over; an existing ``out.csv`` is replaced
    only with ``force``; the folder must be new, empty or one ``predict`` wrote
    (:mod:`sharenas.runs.out_folder`)."""
    from sharenas.cache import atomic_path, write_bytes_atomic
    from sharenas.runs.out_folder import check_file, make_folder

    out = Path(out)
    dense = predictions.dense_tasks()
    if out.suffix == ".csv":
        if dense:
            raise SharenasError(
                f"--out {out}: the dense tasks {', '.join(dense)} give arrays, not table "
                "columns; pass a folder (--out predictions/) for TASK.npy files and the table."
            )
        check_file(out, force=force, inputs=inputs)
        write_bytes_atomic(out, predictions.table().to_csv(index=False).encode())
        return [out]
    make_folder(out, "predictions", inputs)
    written = [out / "predictions.csv"]
    write_bytes_atomic(written[0], predictions.table().to_csv(index=False).encode())
    for task in dense:
        arrays = predictions.tasks[task]
        array = arrays.get("probabilities", arrays.get("value", arrays.get("normal")))
        with atomic_path(out / f"{task}.npy", suffix=".tmp.npy") as tmp:
            np.save(tmp, array, allow_pickle=False)
        written.append(out / f"{task}.npy")
    return written
