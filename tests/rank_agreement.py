"""Run under torchrun by test_runs.py: ``rank_agreement.py REPORT ARGS… [::: ARGS…]…`` runs each
``sharenas ARGS`` in turn through the console script's entry point (``sharenas.cli.main``) in
these same processes (the process group the first sets up serves the next), its one-shot
search checking after every step that all ranks hold the same network and architecture state
(the model's parameters and buffers, with the fusion gates among them, and the step's state:
the routing policy), then writes, per command, how many steps were checked and how many
disagreed. The check only reads the state (and gathers a copy of it), so the search computes
what ``sharenas search`` does."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from sharenas import cli
from sharenas.engine.trainer import Trainer
from sharenas.workflows import session
from sharenas.workflows.session import search


def _tensors(state: Any) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for value in state.values() for t in _tensors(value)]
    if isinstance(state, list | tuple):
        return [t for value in state for t in _tensors(value)]
    return [torch.tensor(float(state))] if isinstance(state, int | float) else []


class RankAgreement:
    """After every step: every rank's state, flattened, gathered and compared exactly."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.checked = self.disagreed = 0

    def bind(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def __call__(self, info: Any, values: dict[str, float]) -> None:
        assert self.trainer is not None
        step_state = _tensors(self.trainer.step.state_dict())
        state = [*self.trainer.model.state_dict().values(), *step_state]
        mine = torch.cat([t.detach().double().flatten().cpu() for t in state])
        gathered = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, mine)
        self.checked += 1
        self.disagreed += int(any(not torch.equal(gathered[0], g) for g in gathered[1:]))


def main() -> None:
    report, commands = Path(sys.argv[1]), [[]]
    for arg in sys.argv[2:]:
        commands.append([]) if arg == ":::" else commands[-1].append(arg)
    checks = []
    for args in commands:
        check = RankAgreement()
        checks.append(check)

        def checked_search(*positional: Any, check: RankAgreement = check, **options: Any) -> Any:
            options["callbacks"] = [*(options.get("callbacks") or []), check]
            return search(*positional, **options)

        session.search = checked_search  # what api.search (the command's) imports when it runs
        sys.argv = ["sharenas", *args]
        try:
            cli.main()
        except SystemExit as stopped:
            if stopped.code not in (None, 0):
                raise
    if dist.get_rank() == 0:
        report.write_text(
            json.dumps([{"checked": c.checked, "disagreed": c.disagreed} for c in checks])
        )


if __name__ == "__main__":
    main()
