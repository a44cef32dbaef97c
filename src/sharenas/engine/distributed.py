"""Multi-process data parallelism through ``torchrun`` (gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of a torchrun launch, or the only process: the one that writes shared files."""
    return int(os.environ.get("RANK", "0")) == 0


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    if world_from_env() > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def resolve_device(choice: str) -> torch.device:
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        from sharenas.errors import ConfigError

        raise ConfigError("train.device: given 'cuda' but no CUDA device is available; use auto.")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return torch.device("cuda", local_rank)


def average_gradients(parameters: list[torch.nn.Parameter], world: int) -> None:
    """All-reduce the gradients of parameters that live outside the DDP-wrapped model."""
    for p in parameters:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world
