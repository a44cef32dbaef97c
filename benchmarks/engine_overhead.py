"""Benchmark: sharenas trainer step time ÷ a minimal plain PyTorch loop (issue 3, target ≤ 1.05).

Both loops train the same model (same initial weights) on the same batches gathered the same way;
the plain loop is forward, summed task losses, backward, Adam step. Each is timed several times,
alternating, and the medians are compared, all in one run.

    python benchmarks/engine_overhead.py [--batches 60] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from sharenas.data import create_dataset
from sharenas.engine.run import build_model, resolve_run_config
from sharenas.engine.trainer import Trainer

CASES = {
    "census-income mlp hard-sharing": ("configs/census-income.yaml", "hard-sharing", []),
    "multimnist cnn hard-sharing": ("configs/multimnist.yaml", "hard-sharing", []),
}


def plain_loop(model, handlers, data, batches) -> float:  # type: ignore[no-untyped-def]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    for index in batches:
        x, y = data.train.batch(index)
        predictions = model(x)
        loss = sum(h.loss(predictions[h.name], y[h.name]) for h in handlers)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.batches} batches × {args.repeats} repeats"
    )
    print(f"{'case':<34} {'sharenas s':>11} {'plain s':>9} {'ratio':>7}")
    for label, (path, arch, overrides) in CASES.items():
        config = resolve_run_config(
            Path(path), arch, [*overrides, f"train.max_batches={args.batches}"]
        )
        data = create_dataset(config.data).load()
        model, handlers = build_model(config, data)
        initial = copy.deepcopy(model.state_dict())
        batches = data.train.batches(config.train.batch_size, config.seed, 0, args.batches)
        ours, plain = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeats):
                model.load_state_dict(initial)
                trainer = Trainer(
                    model, handlers, data, config.train, Path(tmp), seed=config.seed, progress=False
                )
                start = time.perf_counter()
                trainer.train_epoch(0)
                ours.append(time.perf_counter() - start)
                model.load_state_dict(initial)
                plain.append(plain_loop(model, handlers, data, batches))
        a, b = statistics.median(ours), statistics.median(plain)
        print(f"{label:<34} {a:>11.3f} {b:>9.3f} {a / b:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
