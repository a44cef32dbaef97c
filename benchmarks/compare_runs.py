"""Benchmark tables from finished run folders: searched models against baselines trained with
the same budget and seeds, paired over seeds (95 % t intervals), for searches and baselines run
by separate commands (e.g. ``sharenas search --no-baselines`` beside ``baselines.py``).

    python benchmarks/compare_runs.py \\
        --model "fusion (searched)=runs/bench15-libmtl-search/fusion-s{seed}/search" \\
        --model "hard-sharing=runs/bench15-libmtl/multimnist-libmtl/hard-sharing-s{seed}" \\
        --single "runs/bench15-libmtl/multimnist-libmtl/single-task-s{seed}" --seeds 0,1,2 \\
        --random "runs/bench15-libmtl/multimnist-libmtl/random-fusion-{k}-s{seed}" --count 2 \\
        --searched "fusion (searched)"

With ``--random`` (a folder pattern with ``{seed}`` and ``{k}``, ``--count`` architectures per
seed) and ``--searched``, every searched model is also paired against the best baseline, the
mean of its seed's random architectures and the one of them best on validation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sharenas.report.seed_table import baseline_separation, paired_report, summary_table
from sharenas.runs.records import read_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="NAME=FOLDER with {seed}")
    parser.add_argument("--single", required=True, help="the single-task folder, with {seed}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--random", default=None, help="random architectures, {seed} and {k}")
    parser.add_argument("--count", type=int, default=0, help="random architectures per seed")
    parser.add_argument("--searched", action="append", default=[], help="a --model NAME")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    single = {s: read_metrics(Path(args.single.format(seed=s))) for s in seeds}
    models = dict(item.split("=", 1) for item in args.model)
    rows = {
        name: [read_metrics(Path(folder.format(seed=s))) for s in seeds]
        for name, folder in models.items()
    }
    randoms = {
        s: [read_metrics(Path(args.random.format(seed=s, k=k))) for k in range(args.count)]
        for s in seeds
        if args.random
    }
    pooled = {f"random ({args.count} per seed)": [r for s in randoms for r in randoms[s]]}
    pooled = pooled if randoms else {}
    print(summary_table({"single-task": list(single.values()), **rows, **pooled}, single))
    if len(seeds) > 1:
        runs = {s: {"single-task": single[s]} for s in seeds}
        for name, records in rows.items():
            for s, record in zip(seeds, records, strict=True):
                runs[s][name] = record
        print("\n## the best model against every other (paired over seeds)\n")
        print(baseline_separation(runs))
        if args.searched:
            print("\n" + paired_report(runs, args.searched, randoms or None))


if __name__ == "__main__":
    main()
