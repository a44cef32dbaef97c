"""Benchmark: how the partition search scales with worker processes (issue 17), one run.

The teachers are trained once first (every worker reuses them), then the same study (same
config, seed and trial budget) runs with 1, 2 and 4 workers into fresh folders, each with the
default storage for its worker count (SQLite for one, a journal file for several), each worker
on one torch thread. Printed: trials per minute of the workers' phase (teachers excluded), the
speed-up over one worker, and whether the study lost or repeated a partition.

    python benchmarks/scale_out.py configs/multimnist-partition.yaml --trials 16 \\
        --set data.limit=6000
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from sharenas.config import load_config
from sharenas.data import create_dataset
from sharenas.runs.partition import run_partition_search
from sharenas.runs.partition_eval import load_teachers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-scale-out"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    base = [*args.overrides, f"search.study.trials={args.trials}", "train.threads=1"]
    config = load_config(args.config, base)
    data = create_dataset(config.data).load()
    load_teachers(config, data)  # trained once, outside the timings
    print("| workers | storage | trials | workers' wall s | trials / min | speed-up | distinct |")
    print("|---|---|---|---|---|---|---|")
    rate_one = None
    for workers in (int(w) for w in args.workers.split(",")):
        folder = args.runs / f"w{workers}"
        shutil.rmtree(folder, ignore_errors=True)
        run_config = load_config(args.config, [*base, f"search.study.workers={workers}"])
        began = time.perf_counter()
        record = run_partition_search(run_config, folder, data=data)
        seconds = time.perf_counter() - began
        trials = json.loads((folder / "trials.json").read_text())
        done = [
            json.dumps(t["genotype"], sort_keys=True) for t in trials if t["state"] == "COMPLETE"
        ]
        rate = 60 * record["trials"] / seconds
        rate_one = rate_one or rate
        storage = "journal" if (folder / "study.journal").exists() else "SQLite"
        print(
            f"| {workers} | {storage} | {record['trials']} | {seconds:.0f} | {rate:.1f} | "
            f"{rate / rate_one:.2f} | {len(set(done))} of {len(done)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
