"""Benchmark: exported models (issue 16), every architecture of a config, one run.

For each architecture (the hand-designed ones, and a point of each search space as its searched
architecture is rebuilt: the derived fusion network, a routing route, a partition point as its
physically pruned network), a short training run writes a run folder; the model is then loaded from
the folder alone, exported to ONNX and to a ``torch.export`` program (each checked against
PyTorch), and timed: rows (or images) per second of PyTorch eager and of onnxruntime on the same
batches, one thread each, median of ``--repeats``.

    python benchmarks/export.py configs/census-income.yaml --batch 1024
    python benchmarks/export.py configs/multimnist-libmtl.yaml --batch 256
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch

import sharenas
from sharenas.deploy.export import check_batch, export_model
from sharenas.deploy.graph import input_names
from sharenas.runs.random_archs import random_arch_record, random_genotypes

ARCHS = "single-task,hard-sharing,cross-stitch,nddr,mmoe,ple,fusion,routing,partition"
SPACES = ("fusion", "routing", "partition")


def arch_of(config: Path, arch: str, folder: Path) -> str | Path:
    """A hand-designed name, or a point of the space as an arch.json."""
    if arch not in SPACES:
        return arch
    cfg = sharenas.load_config(config, [f"search.space={arch}", "search.random_architectures=1"])
    genotype = random_genotypes(cfg, sharenas.load_dataset(cfg.data))[0]
    path = folder / f"{arch}.json"
    path.write_text(json.dumps(random_arch_record(cfg, genotype)))
    return path


def rate(function, rows: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Rows per second of ``function()`` on ``rows`` rows, median of ``repeats`` timed calls."""
    function()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return rows / statistics.median(times)


def measure(run: Path, batch: int, repeats: int) -> dict[str, float | str]:
    import onnxruntime

    loaded = sharenas.load_model(run)
    onnx = export_model(loaded, "onnx")
    program = export_model(loaded, "exported-program")
    spec = loaded.inputs.input_spec
    inputs = check_batch(spec, rows=batch, seed=1)
    graph = loaded.graph()

    def eager() -> None:
        with torch.no_grad():
            graph(*inputs)

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx.path), options, ["CPUExecutionProvider"])
    feeds = {name: t.numpy() for name, t in zip(input_names(spec), inputs, strict=True)}
    return {
        "model": type(loaded.model).__name__,
        "onnx_kib": onnx.size_bytes / 1024,
        "onnx_difference": onnx.max_abs_difference,
        "program_kib": program.size_bytes / 1024,
        "program_difference": program.max_abs_difference,
        "eager_rows_s": rate(eager, batch, repeats),
        "onnxruntime_rows_s": rate(lambda: session.run(None, feeds), batch, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--archs", default=ARCHS)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-export"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = args.runs / args.config.stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    budget = ["train.epochs=1", "data.limit=4000", "train.threads=1", *args.overrides]
    print(
        "| architecture | network | ONNX KiB | ONNX max abs diff | .pt2 KiB | .pt2 max abs diff "
        "| eager rows/s | onnxruntime rows/s | onnxruntime ÷ eager |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for arch in args.archs.split(","):
        chosen = arch_of(args.config, arch, folder)
        run = sharenas.train(
            args.config, folder / arch, arch=chosen, overrides=budget, progress=False
        ).folder
        m = measure(run, args.batch, args.repeats)
        print(
            f"| {arch} | {m['model']} | {m['onnx_kib']:.1f} | {m['onnx_difference']:.1e} | "
            f"{m['program_kib']:.1f} | {m['program_difference']:.1e} | "
            f"{m['eager_rows_s']:,.0f} | {m['onnxruntime_rows_s']:,.0f} | "
            f"{float(m['onnxruntime_rows_s']) / float(m['eager_rows_s']):.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
