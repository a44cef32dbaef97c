"""A loaded model written as an ONNX file or a ``torch.export`` program (the API behind
``sharenas export``), with a dynamic batch axis, named inputs (``image``, or ``numeric`` and
``categorical``) and one named output per task (its activated prediction). Each file is checked
after writing, on a batch it was not traced with: onnxruntime's outputs (or the reloaded
program's) must match PyTorch's within :data:`TOLERANCE`. A file that fails the check is not
kept."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from sharenas.cache import atomic_path
from sharenas.data.base import InputSpec
from sharenas.deploy.graph import input_names
from sharenas.deploy.predictor import LoadedModel
from sharenas.errors import SharenasError
from sharenas.runs.out_folder import check_file, run_inputs

FORMATS = {"onnx": ".onnx", "exported-program": ".pt2"}
TOLERANCE = 1e-5
CHECK_ROWS = 7  # a batch size other than the traced one: the batch axis must be dynamic


class ExportError(SharenasError):
    """The model cannot be exported, or the written file does not reproduce it."""


@dataclass
class ExportReport:
    path: Path
    format: str
    size_bytes: int
    max_abs_difference: float
    rows_checked: int

    def line(self) -> str:
        checker = "onnxruntime" if self.format == "onnx" else "the reloaded program"
        return (
            f"wrote {self.path} ({self.size_bytes / 1024:.1f} KiB); {checker} against PyTorch on "
            f"{self.rows_checked} held-out rows: max |difference| {self.max_abs_difference:.2e} "
            f"(≤ {TOLERANCE:g})"
        )


def check_batch(spec: InputSpec, rows: int = CHECK_ROWS, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the model's kinds, never the tracing example: pixels in [0, 1],
    standardised numeric columns, category codes within each vocabulary."""
    generator = torch.Generator().manual_seed(seed)
    if spec.kind == "image":
        assert spec.channels and spec.height and spec.width
        shape = (rows, spec.channels, spec.height, spec.width)
        return (torch.rand(shape, generator=generator),)
    tensors = {"numeric": torch.randn(rows, spec.num_numeric, generator=generator)}
    if spec.categorical_cardinalities:
        columns = [
            torch.randint(0, card, (rows,), generator=generator)
            for card in spec.categorical_cardinalities
        ]
        tensors["categorical"] = torch.stack(columns, 1)
    return tuple(tensors[name] for name in input_names(spec))


def _dynamic_batch(inputs: tuple[torch.Tensor, ...]) -> dict[str, tuple[dict[int, object], ...]]:
    batch = torch.export.Dim("batch", min=1)
    return {"inputs": tuple({0: batch} for _ in inputs)}


@contextlib.contextmanager
def _quiet_exporter():  # type: ignore[no-untyped-def]
    """The exporters' progress prints and warnings, kept off the user's terminal."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _difference(got: list, expected: tuple[torch.Tensor, ...]) -> float:  # type: ignore[type-arg]
    return max(
        float((torch.as_tensor(g) - e).abs().max()) if e.numel() else 0.0
        for g, e in zip(got, expected, strict=True)
    )


def _trace(loaded: LoadedModel) -> torch.export.ExportedProgram:
    # traced on 2 rows of another draw than the check's (and another batch size)
    graph, example = loaded.graph(), check_batch(loaded.inputs.input_spec, rows=2, seed=1)
    try:
        with _quiet_exporter():
            return torch.export.export(graph, example, dynamic_shapes=_dynamic_batch(example))
    except Exception as exc:  # torch.export's many error types: report, don't crash
        first = str(exc).strip().splitlines()[0][:300]
        raise ExportError(
            f"{loaded.folder}: torch.export cannot trace this model ({first})."
        ) from None


def _write_onnx(loaded: LoadedModel, path: Path) -> list:  # type: ignore[type-arg]
    """The ONNX file at ``path``; returns onnxruntime's outputs on the check batch."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ExportError(
            "--format onnx needs onnx, onnxscript and onnxruntime: pip install 'sharenas[onnx]'."
        ) from None
    spec, tasks = loaded.inputs.input_spec, [t.name for t in loaded.inputs.tasks]
    program = _trace(loaded)
    with _quiet_exporter():
        torch.onnx.export(
            program,
            input_names=input_names(spec),
            output_names=tasks,
            dynamo=True,
            external_data=False,
            f=str(path),
        )
    model = onnx.load(str(path))
    props = {
        "sharenas.inputs": loaded.inputs.model_dump_json(),
        "sharenas.tasks": json.dumps(tasks),
    }
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = dict(zip(input_names(spec), check_batch(spec), strict=True))
    return session.run(tasks, {name: t.numpy() for name, t in feeds.items()})


def _write_program(loaded: LoadedModel, path: Path) -> list:  # type: ignore[type-arg]
    """The ``torch.export`` program at ``path``; returns the reloaded program's outputs on the
    check batch."""
    torch.export.save(_trace(loaded), str(path))
    reloaded = torch.export.load(str(path)).module()
    with torch.no_grad():
        return list(reloaded(*check_batch(loaded.inputs.input_spec)))


def export_model(
    loaded: LoadedModel, format: str, out: Path | None = None, *, force: bool = False
) -> ExportReport:
    """Write ``loaded`` as ``format`` (``onnx`` or ``exported-program``) to ``out`` (default:
    ``model.onnx`` or ``model.pt2`` in its run folder), checked against PyTorch. An existing
    file is replaced only with ``force``; the run's own files never
    (:func:`sharenas.runs.out_folder.check_file`)."""
    if format not in FORMATS:
        raise ExportError(f"--format {format!r}: choose {' or '.join(FORMATS)}.")
    path = Path(out) if out is not None else loaded.folder / f"model{FORMATS[format]}"
    check_file(path, force=force, inputs=run_inputs(loaded.folder))
    with torch.no_grad():
        expected = loaded.graph()(*check_batch(loaded.inputs.input_spec))
    with atomic_path(path, suffix=f".tmp{FORMATS[format]}") as tmp:
        got = _write_onnx(loaded, tmp) if format == "onnx" else _write_program(loaded, tmp)
        difference = _difference(got, expected)
        if difference > TOLERANCE:
            raise ExportError(
                f"{path}: the exported model differs from PyTorch by {difference:.2e} > "
                f"{TOLERANCE:g} on held-out rows; the file was not kept."
            )
        size = tmp.stat().st_size
    return ExportReport(path, format, size, difference, CHECK_ROWS)
