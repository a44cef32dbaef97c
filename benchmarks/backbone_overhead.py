"""Benchmark: what sharenas adds around a torchvision network (issue 34).

One training step (forward, backward, Adam step) on a fixed batch, for two models doing the same
arithmetic:

- sharenas: the hard-sharing model over ``backbone: {name: torchvision, model: M}`` (its stem
  normalising the image, the network cut into stages, one head per task);
- plain: the same torchvision network run as torchvision runs it (``features`` or ResNet's
  layers in one ``nn.Sequential``) after the same normalisation, with copies of the same heads.

Both use the same summed cross-entropy of two 10-class tasks. The two are timed in alternation,
``--repeats`` times ``--steps`` steps after ``--warmup`` steps, and the medians are compared.
Target: sharenas / plain ≤ 1.05. Needs the vision extra (``pip install 'sharenas[vision]'``).

Run on a quiet machine::

    python benchmarks/backbone_overhead.py                      # resnet18 and mobilenet_v2, 64×64
    python benchmarks/backbone_overhead.py --models mobilenet_v2 --size 96 --batch 32 --steps 30
    python benchmarks/backbone_overhead.py --size 32 --batch 4 --steps 2 --repeats 1   # smoke
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from sharenas.architectures import build_architecture
from sharenas.architectures.config import ModelConfig
from sharenas.backbones.pretrained import IMAGENET_MEAN, IMAGENET_STD, InputAdapter, require
from sharenas.data.base import InputSpec
from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

TASKS = ("a", "b")


class Plain(nn.Module):
    """Normalisation, torchvision's network as one Sequential, then the heads."""

    def __init__(self, trunk: nn.Module, heads: nn.ModuleDict) -> None:
        super().__init__()
        self.stem = InputAdapter(3, IMAGENET_MEAN, IMAGENET_STD)
        self.trunk = trunk
        self.heads = heads

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(self.stem(x))
        return {name: head(h) for name, head in self.heads.items()}


def trunk(model: str) -> nn.Module:
    """The torchvision network's convolutional part, as torchvision runs it."""
    network = require("torchvision", "this benchmark").models.get_model(model, weights=None)
    if hasattr(network, "features"):
        return network.features
    n = network
    return nn.Sequential(n.conv1, n.bn1, n.relu, n.maxpool, n.layer1, n.layer2, n.layer3, n.layer4)


def models(model: str, size: int) -> tuple[nn.Module, nn.Module]:
    handlers = [
        create_task_handler(TaskSpec(name=t, kind=TaskKind.CLASSIFICATION, num_classes=10))
        for t in TASKS
    ]
    spec = InputSpec(kind="image", channels=3, height=size, width=size)
    config = ModelConfig(backbone={"name": "torchvision", "model": model})
    ours = build_architecture("hard-sharing", handlers, spec, config)
    plain = Plain(trunk(model), copy.deepcopy(ours.heads))
    return ours, plain


def stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = sum(F.cross_entropy(out[t], y) for t in TASKS)
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()

    return step


def timed(step: Callable[[], None], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "mobilenet_v2"])
    parser.add_argument("--size", type=int, default=64, help="image side (RGB)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"batch {args.batch} of 3×{args.size}×{args.size}, {len(TASKS)} tasks; ms per step")
    x = torch.rand(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 10, (args.batch,))
    for model in args.models:
        ours, plain = models(model, args.size)
        steps = {"sharenas": stepper(ours, x, y), "plain": stepper(plain, x, y)}
        for step in steps.values():
            timed(step, args.warmup)
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.repeats):  # alternated, so drift hits both alike
            for name, step in steps.items():
                times[name].append(timed(step, args.steps))
        ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
        ratio = ms["sharenas"] / ms["plain"]
        verdict = "ok" if ratio <= 1.05 else "over the 1.05 target"
        print(
            f"{model:>14}: sharenas {ms['sharenas']:8.1f}  plain {ms['plain']:8.1f}  "
            f"ratio {ratio:.3f} ({verdict})"
        )


if __name__ == "__main__":
    main()
