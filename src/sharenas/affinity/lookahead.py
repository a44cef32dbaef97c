"""TAG's lookahead inter-task affinity (Fifty et al., "Efficiently Identifying Task Groupings for
Multi-Task Learning", NeurIPS 2021, Eq. 3), measured while a hard-sharing network trains.

Every ``every`` steps, on the step's batch and before its update: for each task i, the shared
parameters θ_s take a lookahead step on task i's loss alone, θ'_s = θ_s − η ∇_{θ_s} L_i, and

    Z_{i→j} = 1 − L_j(θ'_s, θ_j) / L_j(θ_s, θ_j)

says how much that step lowered task j's loss (positive: i helps j). The matrix is the mean over
the measured steps. The same per-task gradients give, per stage of the shared network, the cosine
between tasks' gradients (Yu et al., PCGrad, 2020, read per stage as in branched multi-task
networks), and each stage's share of Z to first order,

    Z^s_{i→j} = η ⟨∇_{θ_s} L_i, ∇_{θ_s} L_j⟩ / L_j      (Σ_s Z^s ≈ Z, a Taylor step of Eq. 3),

which says at which stage i's step helps or hurts j: what a branching search cuts on.

η is ``train.lr`` (TAG: the training learning rate); the lookahead is a plain gradient step (the
authors' PyTorch re-implementations do the same), batch-norm statistics are restored after it so
measuring leaves the training untouched. Cost per measurement: one forward, T backward passes
through the shared network and T forwards; ``every`` is chosen so that the whole stays near 1.3×
one training (:func:`default_every`).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from sharenas.engine.evaluate import autocast
from sharenas.engine.step import PlainStep, StepInfo
from sharenas.engine.task_subset import only_tasks
from sharenas.tasks.labels import labelled_part


def default_every(tasks: int) -> int:
    """Steps between measurements for ≈ 30 % overhead: a measurement costs about 2.5 training
    steps per task (measured on small MLPs, where the T lookahead passes are dominated by their
    fixed cost; BENCHMARKS.md), so every 2.5·T / 0.3 ≈ 7.5·T steps."""
    return max(1, round(7.5 * tasks))


def shared_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The trained parameters every task reads: all but the task heads' (and frozen ones, such
    as the shared norms a multi-domain model keeps per domain instead)."""
    return {
        name: p
        for name, p in model.named_parameters()
        if p.requires_grad and not name.startswith("heads.")
    }


def stage_key(name: str) -> tuple[int, str]:
    """Stages in network order: by the number in their name (``nodes.10`` after ``nodes.9``)."""
    digits = "".join(c for c in name.split(".")[-1].split(":")[0] if c.isdigit())
    return (int(digits) if digits else -1, name)


def stage_of(name: str) -> str:
    """The stage a shared parameter belongs to: its first two name parts (``blocks.0:0``)."""
    return ".".join(name.split(".")[:2])


class AffinityStep(PlainStep):
    """Plain multi-task training that also measures inter-task affinity every ``every`` steps."""

    label = "train + affinity"

    def __init__(self, every: int | None = None) -> None:
        self.every = every

    def attach(self, trainer: Any) -> None:
        super().attach(trainer)
        self.tasks = [h.name for h in trainer.handlers]
        self.every = self.every or default_every(len(self.tasks))
        self.shared = shared_parameters(trainer.model)
        self.stages = sorted({stage_of(name) for name in self.shared}, key=stage_key)
        size = len(self.tasks)
        self.lookahead = torch.zeros(size, size, dtype=torch.float64)
        self.cosine = {s: torch.zeros(size, size, dtype=torch.float64) for s in self.stages}
        self.staged = {s: torch.zeros(size, size, dtype=torch.float64) for s in self.stages}
        self.staged_sq = {s: torch.zeros(size, size, dtype=torch.float64) for s in self.stages}
        self.measured = 0
        self.measure_seconds = 0.0  # the measurements' share of the training's time

    def step(self, batch: Any, info: StepInfo) -> dict[str, float]:
        if info.global_step % self.every == 0:
            began = time.perf_counter()
            self.measure(batch)
            self.measure_seconds += time.perf_counter() - began
        return super().step(batch, info)

    def measure(self, batch: Any) -> None:
        """One measurement of Z and of the per-stage affinities on ``batch`` (a multi-domain
        batch holds one task: every task then brings a batch of its own domain)."""
        t, model = self.trainer, self.trainer.model
        views = self._views(batch)
        buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
        before, losses = self._losses(model, views)
        names = list(self.shared)
        grads = [
            torch.autograd.grad(losses[task], [self.shared[n] for n in names], retain_graph=True,
                                allow_unused=True)
            for task in self.tasks
        ]  # fmt: skip
        for i, grad in enumerate(grads):
            moved = {
                n: self.shared[n].detach() - t.config.lr * g
                for n, g in zip(names, grad, strict=True)
                if g is not None
            }
            with torch.no_grad():
                after, _ = self._losses(model, views, moved)
            for j, task in enumerate(self.tasks):
                self.lookahead[i, j] += 1.0 - after[task] / max(before[task], 1e-12)
        self._add_stages(names, grads, [before[task] for task in self.tasks])
        with torch.no_grad():  # batch-norm running statistics as before the measurement
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
        self.measured += 1

    def _views(self, batch: Any) -> list[tuple[Any, dict[str, torch.Tensor]]]:
        """(inputs, targets) pairs that together hold every task: the batch itself, or on a
        multi-domain set one batch of each task's domain (drawn from the batch's step, so a
        resumed run measures alike)."""
        t = self.trainer
        x, y = t.load(t.data.train, batch)
        if all(name in y for name in self.tasks):
            return [(x, y)]
        views = []
        for k, task in enumerate(self.tasks):
            rows = t.data.train.domains[task].batches(
                t.config.batch_size, t.seed + 7919 * self.measured + k, 0, 1
            )[0]
            views.append(t.load(t.data.train, (task, rows)))
        return views

    def _losses(
        self,
        model: nn.Module,
        views: list[tuple[Any, dict[str, torch.Tensor]]],
        moved: dict | None = None,
    ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        t, losses = self.trainer, {}
        for x, y in views:
            with autocast(t.device, t.amp), only_tasks(model, y):
                predictions = functional_call(model, moved or {}, (x,), strict=False)
            for h in t.handlers:
                labelled = (
                    labelled_part(h.spec, predictions[h.name], y[h.name]) if h.name in y else None
                )
                if labelled is not None:  # partial labels: the task's labelled rows
                    losses[h.name] = h.loss(labelled[0].float(), labelled[1])
        return {k: float(v.detach()) for k, v in losses.items()}, losses

    def _add_stages(self, names: list[str], grads: list[tuple], before: list[float]) -> None:
        """Per stage: the gradients' cosines and the first-order lookahead Z^s (a task whose
        loss does not reach a stage's weights has a zero gradient there)."""
        for stage in self.stages:
            members = [n for n in names if stage_of(n) == stage]
            rows = [
                torch.cat([
                    (g if g is not None else torch.zeros_like(self.shared[n])).reshape(-1)
                    for n, g in zip(names, grad, strict=True) if n in members
                ])
                for grad in grads
            ]  # fmt: skip
            stacked = torch.stack(rows).double()
            flat = torch.nn.functional.normalize(stacked, dim=1)
            self.cosine[stage] += (flat @ flat.T).cpu()
            losses = torch.tensor(before, dtype=torch.float64).clamp_min(1e-12)
            value = self.trainer.config.lr * (stacked @ stacked.T).cpu() / losses
            self.staged[stage] += value
            self.staged_sq[stage] += value**2

    def synchronise(self) -> None:
        """Under torchrun every process measured on its own rows: sum the measurements over
        processes (once), so that every process reads the same matrices."""
        world = getattr(self.trainer, "world", 1)
        if world <= 1 or getattr(self, "_synchronised", False):
            return
        import torch.distributed as dist

        for table in (self.cosine, self.staged, self.staged_sq):
            for stage, matrix in table.items():
                moved = matrix.to(self.trainer.device)
                dist.all_reduce(moved)
                table[stage] = moved.cpu()
        moved = self.lookahead.to(self.trainer.device)
        dist.all_reduce(moved)
        self.lookahead = moved.cpu()
        self.measured *= world
        self._synchronised = True

    def matrices(self) -> dict[str, Any]:
        """The mean lookahead affinity Z[i][j] (i's step, j's loss) and per-stage cosines."""
        n = max(self.measured, 1)
        return {
            "tasks": self.tasks,
            "lookahead": (self.lookahead / n).tolist(),
            "stages": {s: (m / n).tolist() for s, m in self.cosine.items()},
            "stage_lookahead": {s: (m / n).tolist() for s, m in self.staged.items()},
            "stage_lookahead_se": {s: self._standard_error(s).tolist() for s in self.staged},
            "measurements": self.measured,
            "every": self.every,
        }

    def _standard_error(self, stage: str) -> torch.Tensor:
        """The standard error of the mean of Z^s over the measurements."""
        n = max(self.measured, 1)
        mean, square = self.staged[stage] / n, self.staged_sq[stage] / n
        spread = (square - mean**2).clamp_min(0.0) * n / max(n - 1, 1)
        return (spread / n).sqrt()

    def state_dict(self) -> dict[str, Any]:
        return {
            "lookahead": self.lookahead,
            "cosine": self.cosine,
            "staged": self.staged,
            "staged_sq": self.staged_sq,
            "measured": self.measured,
            "every": self.every,
            "measure_seconds": self.measure_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lookahead, self.cosine = state["lookahead"], state["cosine"]
        self.staged = state.get("staged", self.staged)
        self.staged_sq = state.get("staged_sq", self.staged_sq)
        self.measured, self.every = int(state["measured"]), int(state["every"])
        self.measure_seconds = float(state.get("measure_seconds", 0.0))
