"""Run under torchrun by test_multi_domain.py (which calls :func:`run` in its own process for the
one-process reference): a multi-domain training of generated data, its metrics written to a JSON
file by rank 0."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch.distributed as dist

from sharenas.config import build_config
from sharenas.runs.training import train
from tests.test_multi_domain import domains_task_set


def main() -> None:
    run(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])


def run(out: Path, report: Path, arch: str) -> None:
    """The training, in whatever process calls it (test_multi_domain runs the one-process
    reference in its own process)."""
    config = build_config(
        {
            "data": {"name": "synthetic-mmoe"},
            "model": {"arch": arch, "backbone": {"name": "cnn", "channels": [4, 8]}},
            "train": {"epochs": 2, "batch_size": 8, "domain_norms": True, "threads": 1},
        }
    )
    record = train(config, out, progress=False, data=domains_task_set())
    if not dist.is_initialized() or dist.get_rank() == 0:
        report.write_text(json.dumps(record["tasks"]))


if __name__ == "__main__":
    main()
