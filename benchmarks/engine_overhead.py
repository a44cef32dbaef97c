"""Benchmark: sharenas trainer step time ÷ a minimal plain PyTorch loop doing the same work
(target ≤ 1.05), for plain training and for the search steps over the same trainer.

Both loops train the same model (same initial weights) on the same batches gathered the same way:
- training: forward, summed task losses, backward, Adam step;
- fusion search (MTL-NAS): per batch an architecture step (deterministic gates, task losses +
  λ · mean gate entropy, Adam on α) on an α-half batch and a weight step (relaxed-Bernoulli gates
  at the annealed temperature, Adam over backbone and fusion groups);
- routing search (MTNAS, REINFORCE): per batch a weight step along a route sampled from the
  policy, and every ``arch_every`` steps ``samples`` routes scored on validation rows and one
  policy-gradient step with the leave-one-out baseline.
Each is timed several times, the order swapped every repeat, and the medians are compared, all
in one run.

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
from sharenas.engine.trainer import Trainer
from sharenas.runs.folder import resolve_run_config
from sharenas.runs.training import build_model

CASES = {
    "census-income mlp hard-sharing": ("configs/census-income.yaml", "hard-sharing", []),
    "multimnist cnn hard-sharing": ("configs/multimnist.yaml", "hard-sharing", []),
}
SEARCHES = {
    "multimnist fusion search step": ("configs/multimnist-fusion.yaml", []),
    "census-income routing search step": (
        "configs/census-routing.yaml",
        ["search.reinforce.warmup_epochs=0"],
    ),
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


def plain_fusion(space, supernet, handlers, data, step_batches, settings, lr) -> float:  # type: ignore[no-untyped-def]
    """The MTL-NAS search step written as a bare loop."""
    from sharenas.search.gradient import gate_entropy, temperature

    weights = [*supernet.network_parameters()]
    weight_opt = torch.optim.Adam(
        [
            {"params": weights},
            {"params": supernet.fusion_parameters(), "lr": lr * settings.fusion_lr_multiplier},
        ],
        lr=lr,
    )
    arch_opt = torch.optim.Adam(
        supernet.architecture_parameters(),
        lr=settings.arch_lr,
        betas=settings.arch_betas,
        weight_decay=settings.arch_weight_decay,
    )
    supernet.train()
    total = len(step_batches)

    def task_loss(index):  # type: ignore[no-untyped-def]
        x, y = data.train.batch(index)
        predictions = supernet(x)
        return sum(h.loss(predictions[h.name], y[h.name]) for h in handlers)

    start = time.perf_counter()
    for step, (weight_rows, arch_rows) in enumerate(step_batches):
        supernet.gate_mode = "deterministic"
        entropy = gate_entropy(supernet.probabilities())
        arch_loss = task_loss(arch_rows) + settings.entropy_weight * entropy
        arch_opt.zero_grad(set_to_none=True)
        arch_loss.backward()
        arch_opt.step()
        supernet.gate_mode = "sample"
        supernet.temperature = temperature(step, total, settings)
        loss = task_loss(weight_rows)
        weight_opt.zero_grad(set_to_none=True)
        loss.backward()
        weight_opt.step()
    return time.perf_counter() - start


def plain_reinforce(space, supernet, handlers, data, batches, settings, lr, seed) -> float:  # type: ignore[no-untyped-def]
    """The MTNAS REINFORCE step written as a bare loop (leave-one-out baseline)."""
    from sharenas.search.policy import CategoricalPolicy

    choices = space.choices()
    policy = CategoricalPolicy([c.key for c in choices], [len(c.options) for c in choices])
    weight_opt = torch.optim.Adam(supernet.parameters(), lr=lr)
    arch_opt = torch.optim.Adam(policy.parameters(), lr=settings.policy_lr)
    generator = torch.Generator().manual_seed(seed)
    example = data.val.example(2)
    layer_flops = space.layer_flops(supernet, example)

    @torch.no_grad()
    def reward(indices, rows):  # type: ignore[no-untyped-def]
        genotype = space.genotype_from(indices)
        supernet.eval()
        supernet.genotype = genotype
        x, y = data.val.batch(rows)
        predictions = supernet(x)
        supernet.train()
        terms = []
        for h in handlers:
            metric = h.metric()
            metric.update(predictions[h.name].float(), y[h.name])
            value = float(metric.compute()[h.primary])
            terms.append(value if h.higher_is_better else -value)
        cost = space.relative_cost(genotype, layer_flops)
        return sum(terms) / len(terms) - settings.flops_penalty * cost

    supernet.train()
    start = time.perf_counter()
    for step, index in enumerate(batches):
        supernet.relaxation = None
        supernet.genotype = space.genotype_from(policy.sample(generator))
        x, y = data.train.batch(index)
        predictions = supernet(x)
        loss = sum(h.loss(predictions[h.name], y[h.name]) for h in handlers)
        weight_opt.zero_grad(set_to_none=True)
        loss.backward()
        weight_opt.step()
        if (step + 1) % settings.arch_every:
            continue
        rows = torch.randperm(len(data.val), generator=generator)[: settings.reward_batch]
        drawn = [policy.sample(generator) for _ in range(settings.samples)]
        rewards = [reward(indices, rows) for indices in drawn]
        others = len(rewards) - 1
        policy_loss = torch.zeros(())
        for indices, r in zip(drawn, rewards, strict=True):
            base = (sum(rewards) - r) / others
            policy_loss = policy_loss - (r - base) * policy.log_prob(indices) / len(rewards)
        policy_loss = policy_loss - settings.entropy_bonus * policy.entropy()
        arch_opt.zero_grad(set_to_none=True)
        policy_loss.backward()
        arch_opt.step()
    return time.perf_counter() - start


def search_case(path: str, overrides: list[str], batches: int, repeats: int) -> tuple[float, float]:
    """(sharenas s, plain s): medians of one epoch of the config's search step."""
    from sharenas.config import load_config
    from sharenas.runs.training import task_handlers
    from sharenas.search.registry import create_step
    from sharenas.spaces.registry import create_space

    config = load_config(Path(path), [*overrides, f"train.max_batches={batches}"])
    settings = config.search
    data = create_dataset(config.data).load()
    handlers = task_handlers(data)
    torch.manual_seed(config.seed)
    space = create_space(
        settings.space, handlers, data.input_spec, config.model, getattr(settings, settings.space)
    )
    supernet = space.supernet()
    initial = copy.deepcopy(supernet.state_dict())
    strategy = getattr(settings, settings.strategy)
    with tempfile.TemporaryDirectory() as tmp:

        def ours() -> float:
            supernet.load_state_dict(initial)
            step = create_step(settings.strategy, space, strategy)
            trainer = Trainer(
                supernet, handlers, data, config.train, Path(tmp), config.seed, False, step=step
            )
            begin = time.perf_counter()
            trainer.train_epoch(0, None, None)
            return time.perf_counter() - begin

        def plain() -> float:
            supernet.load_state_dict(initial)
            if settings.space == "fusion":
                step = create_step(settings.strategy, space, strategy)
                Trainer(
                    supernet, handlers, data, config.train, Path(tmp), config.seed, False, step=step
                )  # only for the step's (weight, α) batch pairs
                pairs = step.batches(0)
                return plain_fusion(
                    space, supernet, handlers, data, pairs, strategy, config.train.lr
                )
            rows = data.train.batches(config.train.batch_size, config.seed, 0, batches)
            return plain_reinforce(
                space, supernet, handlers, data, rows, strategy, config.train.lr, 0
            )

        return alternate(ours, plain, repeats)


def alternate(ours, plain, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Medians of ``repeats`` timings of each, the order swapped every repeat (no order bias)."""
    times: dict[str, list[float]] = {"ours": [], "plain": []}
    for i in range(repeats):
        pair = [("ours", ours), ("plain", plain)]
        for name, run in pair if i % 2 == 0 else reversed(pair):
            times[name].append(run())
    return statistics.median(times["ours"]), statistics.median(times["plain"])


def training_case(
    path: str, arch: str, overrides: list[str], batches: int, repeats: int
) -> tuple[float, float]:
    """(sharenas s, plain s): medians of one epoch of plain training."""
    config = resolve_run_config(Path(path), arch, [*overrides, f"train.max_batches={batches}"])
    data = create_dataset(config.data).load()
    model, handlers = build_model(config, data)
    initial = copy.deepcopy(model.state_dict())
    rows = data.train.batches(config.train.batch_size, config.seed, 0, batches)
    with tempfile.TemporaryDirectory() as tmp:

        def ours() -> float:
            model.load_state_dict(initial)
            trainer = Trainer(
                model, handlers, data, config.train, Path(tmp), seed=config.seed, progress=False
            )
            start = time.perf_counter()
            trainer.train_epoch(0, None, None)
            return time.perf_counter() - start

        def plain() -> float:
            model.load_state_dict(initial)
            return plain_loop(model, handlers, data, rows)

        return alternate(ours, plain, repeats)


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
        a, b = training_case(path, arch, overrides, args.batches, args.repeats)
        print(f"{label:<34} {a:>11.3f} {b:>9.3f} {a / b:>7.3f}", flush=True)
    for label, (path, overrides) in SEARCHES.items():
        a, b = search_case(path, overrides, args.batches, args.repeats)
        print(f"{label:<34} {a:>11.3f} {b:>9.3f} {a / b:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
