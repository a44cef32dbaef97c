"""Benchmark: training time per epoch against the peer libraries, side by side (issue 15).

The same rows, the same model and the same thread count on both sides:

``census``: torch-rechub's SharedBottom on census-income (bottom 117, towers 8, 16-wide
embeddings, batch 1024, Adam), fed sharenas' encoded census arrays, against sharenas'
hard-sharing of ``configs/census-income-rechub.yaml``.

``multimnist``: LibMTL's Trainer with hard parameter sharing and equal weights over the LeNet
encoder (batch 256, Adam), fed sharenas' MultiMNIST canvases, against sharenas' hard-sharing of
``configs/multimnist-libmtl.yaml``.

Each side trains ``--epochs`` epochs (training only: validation and test passes are not timed)
and the median epoch is reported. The peers are not dependencies of sharenas: run this in an
environment with ``torch-rechub`` (``pip install torch-rechub==0.9.0``) and LibMTL's GitHub
source on ``PYTHONPATH``. LibMTL hard-codes ``cuda:0``; on a machine without CUDA its device
is replaced by the CPU, and the solver packages only its other weighting methods import
(cvxpy, qpsolvers, torch_geometric) are replaced by empty modules when absent.

    python benchmarks/peers.py census --epochs 3
    python benchmarks/peers.py census --quality 0,1,2     # test AUC on the same split, paired
    PYTHONPATH=/path/to/LibMTL python benchmarks/peers.py multimnist --quality 0,1,2
    PYTHONPATH=/path/to/LibMTL python benchmarks/peers.py multimnist --epochs 3
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from torch import nn

from sharenas.config import load_config
from sharenas.data import create_dataset
from sharenas.report.paired import mean_std, paired_difference
from sharenas.runs.folder import with_arch
from sharenas.runs.training import train

ROOT = Path(__file__).resolve().parent.parent


def sharenas_epochs(config_path: str, epochs: int) -> list[float]:
    """Seconds of each training epoch of sharenas' hard-sharing (validation excluded)."""
    overrides = [f"train.epochs={epochs}", "train.threads=1", "train.early_stopping=null"]
    config = with_arch(load_config(ROOT / config_path, overrides), "hard-sharing")
    data = create_dataset(config.data).load()
    with tempfile.TemporaryDirectory() as folder:
        train(config, Path(folder) / "run", data=data, progress=False)
        rows = (Path(folder) / "run" / "history.jsonl").read_text().splitlines()
    return [json.loads(row)["seconds"] for row in rows]


def rechub_setup(seed: int = 0):  # type: ignore[no-untyped-def]
    """torch-rechub's SharedBottom (its census example) and its loaders over sharenas' encoded
    census splits of ``configs/census-income-rechub.yaml``: the same rows on both sides."""
    from torch_rechub.basic.features import DenseFeature, SparseFeature
    from torch_rechub.models.multi_task import SharedBottom
    from torch_rechub.utils.data import DataGenerator

    config = load_config(ROOT / "configs/census-income-rechub.yaml", [])
    data = create_dataset(config.data).load()
    arrays = {}
    for name in ("train", "val", "test"):
        inputs, targets = data.splits[name].batch(slice(None))
        numeric, codes = inputs["numeric"], inputs["categorical"]
        x = {f"c{i}": codes[:, i].numpy() for i in range(codes.shape[1])}
        x |= {f"n{i}": numeric[:, i].numpy() for i in range(numeric.shape[1])}
        arrays[name] = (x, torch.stack([targets[t] for t in config.data.tasks], 1).numpy())
    cardinalities = data.input_spec.categorical_cardinalities
    features = [
        SparseFeature(f"c{i}", card, embed_dim=16) for i, card in enumerate(cardinalities)
    ] + [DenseFeature(f"n{i}") for i in range(len(arrays["train"][0]) - len(cardinalities))]
    loaders = DataGenerator(*arrays["train"]).generate_dataloader(
        *arrays["val"], *arrays["test"], batch_size=1024
    )
    torch.manual_seed(seed)
    model = SharedBottom(
        features,
        ["classification", "classification"],
        bottom_params={"dims": [117]},
        tower_params_list=[{"dims": [8]}, {"dims": [8]}],
    )
    return model, loaders


def rechub_trainer(model, epochs: int, folder: str):  # type: ignore[no-untyped-def]
    from torch_rechub.trainers import MTLTrainer

    return MTLTrainer(
        model,
        task_types=["classification", "classification"],
        optimizer_params={"lr": 1e-3, "weight_decay": 1e-4},
        n_epoch=epochs,
        earlystop_patience=30,  # its example: never stops within 10 epochs
        device="cpu",
        model_path=folder,
    )


def rechub_epochs(epochs: int) -> list[float]:
    """Seconds of each epoch of torch-rechub's SharedBottom on the same census rows."""
    model, (train_loader, _, _) = rechub_setup()
    with tempfile.TemporaryDirectory() as folder:
        trainer = rechub_trainer(model, epochs, folder)
        seconds = []
        for _ in range(epochs):
            began = time.perf_counter()
            trainer.train_one_epoch(train_loader)
            seconds.append(time.perf_counter() - began)
    return seconds


def census_quality(seeds: list[int]) -> None:
    """Test income AUC of torch-rechub's SharedBottom (its example: 10 epochs, the last kept)
    and of sharenas' hard-sharing of the same recipe, on the same split, paired over seeds."""
    peer, ours = [], []
    for seed in seeds:
        model, (train_loader, val_loader, test_loader) = rechub_setup(seed)
        with tempfile.TemporaryDirectory() as folder:
            trainer = rechub_trainer(model, 10, folder)
            trainer.fit(train_loader, val_loader, seed=seed)
            peer.append(float(trainer.evaluate(trainer.model, test_loader)[0]))
        config = with_arch(
            load_config(ROOT / "configs/census-income-rechub.yaml", [f"seed={seed}"]),
            "hard-sharing",
        )
        with tempfile.TemporaryDirectory() as folder:
            record = train(config, Path(folder) / "run", progress=False)
        ours.append(record["primary"]["income"])
        print(f"seed {seed}: torch-rechub {peer[-1]:.4f}, sharenas {ours[-1]:.4f}", flush=True)
    difference = paired_difference(ours, peer)
    print(f"torch-rechub SharedBottom income AUC {mean_std(peer)}")
    print(f"sharenas hard-sharing income AUC {mean_std(ours)}")
    print(
        f"sharenas − torch-rechub: {difference.mean:+.4f} [{difference.low:+.4f}, "
        f"{difference.high:+.4f}]"
    )


class LeNet(nn.Module):
    """LibMTL's MultiMNIST encoder (Sener & Koltun): conv-pool-ReLU twice, fc 720 → 50, ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 10, 5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(10, 20, 5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(720, 50),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Canvases(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor, labels: dict[str, torch.Tensor]) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):  # type: ignore[no-untyped-def]
        return self.images[i], {t: v[i] for t, v in self.labels.items()}


class _Absent(types.ModuleType):
    """A package that is not installed: importing names from it works, using them fails."""

    def __getattr__(self, attribute: str):  # type: ignore[no-untyped-def]
        if attribute.startswith("__"):
            raise AttributeError(attribute)

        def missing(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise ImportError(f"{self.__name__}.{attribute}: {self.__name__} is not installed")

        return missing


def _import_libmtl():  # type: ignore[no-untyped-def]
    """LibMTL, with empty stand-ins for solver packages only its other methods import."""
    for name in ("cvxpy", "qpsolvers", "torch_geometric"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = _Absent(name)
    import LibMTL.trainer as libmtl_trainer

    if not torch.cuda.is_available():  # LibMTL's Trainer hard-codes torch.device('cuda:0')
        proxy = types.ModuleType("torch")
        proxy.__dict__.update(torch.__dict__)
        proxy.device = lambda *_: torch.device("cpu")  # type: ignore[attr-defined]
        libmtl_trainer.torch = proxy  # type: ignore[attr-defined]
    return libmtl_trainer


def libmtl_setup(seed: int = 0):  # type: ignore[no-untyped-def]
    """LibMTL's Trainer (HPS, EW, Adam 1e-3) over the LeNet encoder with linear heads, and
    loaders of sharenas' MultiMNIST splits of ``configs/multimnist-libmtl.yaml``."""
    libmtl_trainer = _import_libmtl()
    from LibMTL.loss import CELoss
    from LibMTL.metrics import AccMetric

    config = load_config(ROOT / "configs/multimnist-libmtl.yaml", [])
    splits = create_dataset(config.data).load().splits
    loaders = {}
    for name in ("train", "test"):
        images, labels = splits[name].batch(slice(None))  # decoded as sharenas' batches are
        loaders[name] = torch.utils.data.DataLoader(
            _Canvases(images, labels), batch_size=256, shuffle=name == "train"
        )
    tasks = list(labels)
    task_dict = {
        t: {"metrics": ["Acc"], "metrics_fn": AccMetric(), "loss_fn": CELoss(), "weight": [1]}
        for t in tasks
    }
    torch.manual_seed(seed)
    trainer = libmtl_trainer.Trainer(
        task_dict=task_dict,
        weighting="EW",
        architecture="HPS",
        encoder_class=LeNet,
        decoders=nn.ModuleDict({t: nn.Linear(50, 10) for t in tasks}),
        rep_grad=False,
        multi_input=False,
        optim_param={"optim": "adam", "lr": 1e-3},
        scheduler_param=None,
        weight_args={},
        arch_args={},
    )
    trainer.test = lambda *args, **kwargs: None  # training epochs only
    return trainer, loaders


def libmtl_epochs(epochs: int) -> list[float]:
    """Seconds of each epoch of LibMTL's Trainer (HPS, EW) on the same MultiMNIST canvases."""
    trainer, loaders = libmtl_setup()
    seconds = []
    for _ in range(epochs):
        began = time.perf_counter()
        trainer.train(loaders["train"], None, 1)
        seconds.append(time.perf_counter() - began)
    return seconds


@torch.no_grad()
def libmtl_accuracy(trainer, loader) -> dict[str, float]:  # type: ignore[no-untyped-def]
    trainer.model.eval()
    right: dict[str, int] = {}
    total = 0
    for images, labels in loader:
        predictions = trainer.model(images)
        for task, target in labels.items():
            hits = int((predictions[task].argmax(1) == target).sum())
            right[task] = right.get(task, 0) + hits
        total += len(images)
    return {task: hits / total for task, hits in right.items()}


def multimnist_quality(seeds: list[int]) -> None:
    """Test accuracy of LibMTL's HPS (10 epochs, the last kept, as its trainer without
    validation) and of sharenas' hard-sharing of the same recipe, same canvases, paired."""
    peer: dict[str, list[float]] = {}
    ours: dict[str, list[float]] = {}
    for seed in seeds:
        trainer, loaders = libmtl_setup(seed)
        trainer.train(loaders["train"], None, 10)
        for task, value in libmtl_accuracy(trainer, loaders["test"]).items():
            peer.setdefault(task, []).append(value)
        config = with_arch(
            load_config(ROOT / "configs/multimnist-libmtl.yaml", [f"seed={seed}"]),
            "hard-sharing",
        )
        with tempfile.TemporaryDirectory() as folder:
            record = train(config, Path(folder) / "run", progress=False)
        for task, value in record["primary"].items():
            ours.setdefault(task, []).append(value)
        print(
            f"seed {seed}: LibMTL {[p[-1] for p in peer.values()]}, "
            f"sharenas {[o[-1] for o in ours.values()]}",
            flush=True,
        )
    for task in peer:
        difference = paired_difference(ours[task], peer[task])
        print(
            f"{task}: LibMTL HPS {mean_std(peer[task])}, sharenas hard-sharing "
            f"{mean_std(ours[task])}, sharenas − LibMTL {difference.mean:+.4f} "
            f"[{difference.low:+.4f}, {difference.high:+.4f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task_set", choices=["census", "multimnist"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--quality", default=None, help="seeds (e.g. 0,1,2) of a paired test-metric comparison"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quality:
        seeds = [int(x) for x in args.quality.split(",")]
        (census_quality if args.task_set == "census" else multimnist_quality)(seeds)
        return
    if args.task_set == "census":
        peer, ours = (
            rechub_epochs(args.epochs),
            sharenas_epochs("configs/census-income-rechub.yaml", args.epochs),
        )
        name = "torch-rechub SharedBottom"
    else:
        peer, ours = (
            libmtl_epochs(args.epochs),
            sharenas_epochs("configs/multimnist-libmtl.yaml", args.epochs),
        )
        name = "LibMTL HPS"
    peer_s, ours_s = statistics.median(peer), statistics.median(ours)
    print(f"{name}: epochs {', '.join(f'{s:.2f}' for s in peer)} s (median {peer_s:.2f})")
    print(
        f"sharenas hard-sharing: epochs {', '.join(f'{s:.2f}' for s in ours)} s "
        f"(median {ours_s:.2f})"
    )
    print(f"sharenas ÷ peer, per epoch: {ours_s / peer_s:.2f} (1 thread)")


if __name__ == "__main__":
    main()
