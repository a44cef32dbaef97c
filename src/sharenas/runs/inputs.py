"""``inputs.json`` of a run folder: what the model reads and predicts, and the fitted
preprocessing, so that the model is rebuilt and fed new raw rows without loading the dataset.
Read as JSON and validated; nothing in it is executed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sharenas.cache import write_json_atomic
from sharenas.data.base import InputSpec, TaskSetData
from sharenas.data.preprocessing import Preprocessing
from sharenas.errors import SharenasError
from sharenas.run_files import INPUTS, read_record
from sharenas.tasks.spec import TaskSpec

INPUTS_FORMAT = "sharenas-inputs/1"


class RunInputs(BaseModel):
    """A run's task set as the model sees it."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["sharenas-inputs/1"] = INPUTS_FORMAT
    dataset: str
    shape: Literal["multi-output", "multi-domain"]
    input_spec: InputSpec
    tasks: list[TaskSpec]
    preprocessing: Preprocessing


def inputs_of(data: TaskSetData) -> RunInputs:
    return RunInputs(
        dataset=data.name,
        shape=data.shape,
        input_spec=data.input_spec,
        tasks=data.tasks,
        preprocessing=data.fitted_preprocessing(),
    )


def write_inputs(folder: Path, data: TaskSetData) -> None:
    """``folder/inputs.json``, written atomically."""
    write_json_atomic(Path(folder) / INPUTS, inputs_of(data).model_dump(mode="json"))


def read_inputs(folder: Path) -> RunInputs | None:
    """The run's ``inputs.json``; None for a folder written before sharenas kept one; a clear
    error when it is damaged."""
    path = Path(folder) / INPUTS
    if not path.exists():
        return None
    try:
        return RunInputs.model_validate(read_record(path))
    except (OSError, ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise SharenasError(
            f"{path}: not a sharenas inputs record ({first}); restore it from the run's source "
            "or retrain the run."
        ) from None
