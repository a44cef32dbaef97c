"""What a run gives back: its folder, its config, its metrics and the model it delivered."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from torch import nn

from sharenas.backbones.pretrained import weights_skipped
from sharenas.config import Config
from sharenas.data import create_dataset
from sharenas.engine.checkpoint import load_weights
from sharenas.errors import SharenasError
from sharenas.runs.folder import BEST, load_run
from sharenas.runs.inputs import read_inputs
from sharenas.runs.training import build_model, build_network
from sharenas.tabular import Table


@dataclass
class Run:
    """A finished run folder: a training run, or the delivered model of a search."""

    folder: Path
    config: Config
    metrics: dict[str, Any]

    @cached_property
    def model(self) -> nn.Module:
        """The delivered network with its weights (``best.pt``), in eval mode, on the CPU."""
        weights = self.folder / BEST
        if not weights.exists():
            raise SharenasError(f"{self.folder}: no {BEST}; the run has not finished an epoch.")
        inputs = read_inputs(self.folder)
        if inputs is None:  # a folder written before runs kept inputs.json: the data says
            config, _ = load_run(self.folder)  # the dataset itself (its module if allowed)
            with weights_skipped():
                model, _ = build_model(config, create_dataset(config.data).load())
        else:
            with weights_skipped():  # best.pt holds them: no pretrained download or file read
                model, _ = build_network(self.config, inputs.tasks, inputs.input_spec, inputs.shape)
        return load_weights(model, weights, "cpu").eval()


def open_run(folder: Path | str) -> Run:
    """The run in ``folder`` (``sharenas.load_run``); its dataset is not needed (nor its module
    imported unless allowed) until the data are."""
    config, metrics = load_run(Path(folder), dataset_needed=False)
    return Run(Path(folder), config, metrics)


@dataclass
class SearchResult:
    """A search session: the delivered model's run, the comparison with the baselines, the
    report's files and a few lines describing what was found."""

    folder: Path
    metrics: dict[str, Any]
    comparison: list[dict[str, Any]]
    run: Run | None = None
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    table: Table = field(default_factory=lambda: Table("", []))  # the comparison

    @property
    def model(self) -> nn.Module:
        """The delivered network (a partition study delivers its front, not a trained model:
        train a front point's arch.json with ``sharenas train --arch``)."""
        if self.run is None:
            raise SharenasError(
                f"{self.folder}: a partition search delivers its front and arch.json, not a "
                "trained model; train the chosen point with `sharenas train --arch "
                f"{self.folder / 'search' / 'arch.json'}`."
            )
        return self.run.model
