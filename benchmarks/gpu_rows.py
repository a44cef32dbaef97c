"""The GPU check's measurements (issue 17): searches on CUDA with AMP, printed as BENCHMARKS rows.

For each job: the search alone (no baselines) on the first CUDA device, wall time, time per
epoch, peak GPU memory (``torch.cuda.max_memory_allocated``) and the delivered model's test
metrics, to set beside the CPU rows of the same config in BENCHMARKS.md.

    python benchmarks/gpu_rows.py                       # the two jobs of benchmarks/gpu_check.sh
    python benchmarks/gpu_rows.py --quick               # a few minutes: smaller budgets
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

import sharenas

JOBS = {  # name: (config, overrides)
    "MultiMNIST fusion (full size)": ("configs/multimnist-fusion.yaml", []),
    "census-income routing": ("configs/census-routing.yaml", []),
}
QUICK = ["data.limit=6000", "train.epochs=2"]


def run(name: str, config: str, overrides: list[str], out: Path) -> str:
    shutil.rmtree(out, ignore_errors=True)  # a fresh search each time the check runs
    torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    found = sharenas.search(
        config, out, overrides=[*overrides, "train.amp=true"], baselines=False, progress=False
    )
    seconds = time.perf_counter() - began
    record = found.metrics
    epochs = max(int(record.get("epochs") or 1), 1)
    peak = torch.cuda.max_memory_allocated() / 2**20
    scores = ", ".join(f"{t} {v:.4f}" for t, v in record["primary"].items())
    device = torch.cuda.get_device_name(0)
    return (
        f"| {name} | {device} | {seconds:.0f} | {record['search_seconds'] / epochs:.1f} | "
        f"{peak:.0f} | {scores} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=Path, default=Path("runs/gpu-check"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a GPU machine")
    print("| job | device | wall s | search s / epoch | peak GPU MiB | test metrics (delivered) |")
    print("|---|---|---|---|---|---|")
    for i, (name, (config, overrides)) in enumerate(JOBS.items()):
        extra = [*overrides, *(QUICK if args.quick else [])]
        print(run(name, config, extra, args.runs / str(i)), flush=True)


if __name__ == "__main__":
    main()
