"""Multi-domain task sets: every task its own rows; batches of one task; per-domain metrics."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sharenas.config import build_config
from sharenas.data.base import InputSpec, MultiDomainDataset, MultiTaskDataset, TaskSetData
from sharenas.data.digit_domains import upsample_optdigits
from sharenas.data.optdigits import parse_csv
from sharenas.runs.folder import with_arch
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.runs.training import train
from sharenas.tasks import TaskKind, TaskSpec

CONFIGS = Path(__file__).parent.parent / "configs"


def domains_task_set(sizes=(30, 12), sampling="round-robin") -> TaskSetData:
    """Two generated domains with their own 8×8 images and labels."""
    tasks = [TaskSpec(name=n, kind=TaskKind.CLASSIFICATION, num_classes=3) for n in ("a", "b")]
    generator = torch.Generator().manual_seed(0)
    splits = {}
    for split in ("train", "val", "test"):
        domains = {}
        for task, n in zip(tasks, sizes, strict=True):
            x = torch.randint(0, 255, (n, 1, 8, 8), generator=generator, dtype=torch.uint8)
            y = (x.float().mean((1, 2, 3)) > 127).long() + (task.name == "b")
            domains[task.name] = MultiTaskDataset(x, {task.name: y}, [task])
        splits[split] = MultiDomainDataset(domains, sampling)
    spec = InputSpec(kind="image", channels=1, height=8, width=8)
    return TaskSetData("domains", tasks, spec, splits, shape="multi-domain")


@pytest.mark.parametrize("sampling", ["round-robin", "proportional"])
def test_every_row_of_every_task_once_per_epoch(sampling: str) -> None:
    split = domains_task_set(sampling=sampling).train
    batches = split.batches(8, seed=0, epoch=3)
    for task, size in split.sizes().items():
        rows = torch.cat([index for name, index in batches if name == task])
        assert sorted(rows.tolist()) == list(range(size))
    if sampling == "round-robin":
        assert [name for name, _ in batches[:4]] == ["a", "b", "a", "b"]
    again = split.batches(8, seed=0, epoch=3)  # a function of (seed, epoch)
    assert [(n, i.tolist()) for n, i in again] == [(n, i.tolist()) for n, i in batches]
    x, y = split.batch(batches[0])
    assert list(y) == [batches[0][0]] and len(x) == len(batches[0][1])


def test_take_limits_every_domain() -> None:
    split = domains_task_set().train.take(10)
    assert split.sizes() == {"a": 10, "b": 10} and len(split) == 20


def test_training_scores_each_task_on_its_own_rows(tmp_path: Path) -> None:
    data = domains_task_set()
    config = build_config(
        {
            "data": {"name": "synthetic-mmoe"},  # replaced by the generated task set
            "model": {"arch": "hard-sharing", "backbone": {"name": "cnn", "channels": [4, 8]}},
            "train": {"epochs": 2, "batch_size": 8, "eval_batch_size": 7},
        }
    )
    record = train(config, tmp_path / "r", data=data, progress=False)
    # hand computation: the best checkpoint's accuracy on each domain's own test rows
    from sharenas.runs.training import build_model

    model, _ = build_model(config, data)
    state = torch.load(tmp_path / "r" / "best.pt", weights_only=False)
    model.load_state_dict(state["model"])
    model.eval()
    for task, domain in data.test.domains.items():
        x, y = domain.batch(slice(None))
        with torch.no_grad():
            accuracy = float((model(x)[task].argmax(1) == y[task]).float().mean())
        assert record["tasks"][task]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    history = [
        json.loads(line) for line in (tmp_path / "r" / "history.jsonl").read_text().splitlines()
    ]
    assert set(history[0]["train_loss"]) == {"a", "b"}
    for arch in ("single-task", "nddr", "mmoe"):
        done = train(with_arch(config, arch), tmp_path / arch, data=data, progress=False)
        assert set(done["primary"]) == {"a", "b"}


def test_a_task_branch_sees_only_its_own_domain(tmp_path: Path) -> None:
    """Single-task on a multi-domain set: each backbone's batch norms count only the batches
    of its own domain (their running statistics are that domain's)."""
    data = domains_task_set()
    config = build_config(
        {
            "data": {"name": "synthetic-mmoe"},
            "model": {"arch": "single-task", "backbone": {"name": "cnn", "channels": [4]}},
            "train": {"epochs": 1, "batch_size": 8},
        }
    )
    from sharenas.runs.training import build_model

    train(config, tmp_path / "r", data=data, progress=False)
    model, _ = build_model(config, data)
    model.load_state_dict(torch.load(tmp_path / "r" / "best.pt", weights_only=False)["model"])
    for task, batches in (("a", 4), ("b", 2)):  # round-robin: 30 rows of a, 12 of b in 8s
        norm = next(
            m for m in model.backbones[task].modules() if isinstance(m, torch.nn.BatchNorm2d)
        )
        assert int(norm.num_batches_tracked) == batches


def test_domain_norms_keep_each_domains_statistics_and_affine(tmp_path: Path) -> None:
    """train.domain_norms: a shared backbone's batch norms hold per-domain statistics (counted
    per domain's batches), scale and shift; evaluation uses each domain's."""
    from sharenas.engine.domain_norms import domain
    from sharenas.runs.training import build_model

    data = domains_task_set()
    config = build_config(
        {
            "data": {"name": "synthetic-mmoe"},
            "model": {"arch": "hard-sharing", "backbone": {"name": "cnn", "channels": [4]}},
            "train": {"epochs": 1, "batch_size": 8, "domain_norms": True},
        }
    )
    record = train(config, tmp_path / "r", data=data, progress=False)
    model, _ = build_model(config, data)
    model.load_state_dict(torch.load(tmp_path / "r" / "best.pt", weights_only=False)["model"])
    model.eval()
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert [int(norm.domain0_num_batches_tracked), int(norm.domain1_num_batches_tracked)] == [4, 2]
    assert int(norm.num_batches_tracked) == 0  # the shared statistics are never used
    assert not torch.equal(norm.domain0_weight, norm.domain1_weight)
    for task, part in data.test.domains.items():
        x, y = part.batch(slice(None))
        with torch.no_grad(), domain(model, task):
            accuracy = float((model(x)[task].argmax(1) == y[task]).float().mean())
        assert record["tasks"][task]["accuracy"] == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.parametrize(
    "search",
    [
        {"space": "fusion"},
        {"space": "routing", "routing": {"experts": 2}, "reinforce": {"warmup_epochs": 0}},
        {"space": "routing", "strategy": "gumbel", "routing": {"experts": 2}},
    ],
    ids=["fusion", "routing-reinforce", "routing-gumbel"],
)
@pytest.mark.parametrize("sampling", ["round-robin", "proportional"])
def test_one_shot_searches_run_on_multi_domain_sets(
    tmp_path: Path, search: dict, sampling: str
) -> None:
    """Fusion and routing searches on a multi-domain set: every weight, architecture and policy
    step reads one task's rows (the α batch of the weight batch's task; the policy's tasks in
    turn), and the delivered model is scored on each task's own rows."""
    from sharenas.runs.oneshot import SUPERNET

    config = build_config(
        {
            "data": {"name": "synthetic-mmoe"},
            "model": {"backbone": {"name": "cnn", "channels": [4, 8]}},
            "train": {"epochs": 2, "batch_size": 8, "threads": 1},
            "search": search,
        }
    )
    data = domains_task_set(sampling=sampling)
    record, _ = run_oneshot_search(config, tmp_path / "s", data=data, progress=False)
    assert set(record["tasks"]) == {"a", "b"}
    assert (tmp_path / "s" / "arch.json").exists()
    history = (tmp_path / "s" / SUPERNET / "history.jsonl").read_text().splitlines()
    assert len(history) == 2
    if search["space"] == "routing" and search.get("strategy") != "gumbel":
        assert json.loads(history[-1])["architecture_steps"] > 0


def test_optdigits_parsing_and_upsampling() -> None:
    rows = "\n".join(",".join(["16"] * 64 + [str(d)]) for d in (3, 7))
    arrays = parse_csv(rows.encode())
    assert arrays["x"].shape == (2, 8, 8) and arrays["y"].tolist() == [3, 7]
    up = upsample_optdigits(arrays["x"])
    assert up.shape == (2, 28, 28) and up.dtype == np.uint8 and int(up.min()) == 255
    with pytest.raises(ValueError, match="expected 65 columns"):
        parse_csv(b"1,2,3\n")


@pytest.mark.integration
def test_digit_domains_from_the_real_sources(online: Path, tmp_path: Path, cli) -> None:
    from sharenas.data import load_dataset

    data = load_dataset("digit-domains")
    assert data.shape == "multi-domain"
    assert data.train.sizes() == {
        "mnist": 5000,
        "mnist_rot45": 5000,
        "mnist_rot90": 5000,
        "mnist_inverted": 5000,
        "optdigits": 1197,
    }
    assert data.test.sizes()["optdigits"] == 300 and data.val.sizes()["mnist"] == 1000
    optdigits = data.train.domains["optdigits"].targets["optdigits"].numpy()
    assert np.bincount(optdigits, minlength=10).min() > 90  # about 120 per class
    inverted = data.train.domains["mnist_inverted"].inputs.float().mean()
    plain = data.train.domains["mnist"].inputs.float().mean()
    assert inverted > 200 > 40 > plain  # mostly white against mostly black
    result = cli(
        "train",
        str(CONFIGS / "digit-domains.yaml"),
        "--smoke",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
        env={"SHARENAS_DATA": str(online)},
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert set(record["primary"]) == set(data.train.sizes())


@pytest.mark.parametrize("arch", ["hard-sharing", "single-task"])
def test_multi_domain_training_on_two_processes_matches_one(tmp_path: Path, arch: str) -> None:
    """Under torchrun (2 CPU processes, gloo) every rank draws the same task per step, the
    other tasks' heads sit out (DDP told of unused parameters), domain norms and synchronised
    batch norms hold; the test metrics equal one process's within 1e-4 (that training runs in
    this process)."""
    import json
    import os
    import subprocess
    import sys

    from tests.ddp_multi_domain import run

    script = Path(__file__).with_name("ddp_multi_domain.py")
    path = os.pathsep.join([str(script.parent.parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    run(tmp_path / "one", tmp_path / "one.json", arch)  # one process: this one
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    two = [*launcher, "--nproc_per_node", "2", str(script), str(tmp_path / "two")]
    result = subprocess.run(
        [*two, str(tmp_path / "two.json"), arch],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    for task, metrics in a.items():
        for name, value in metrics.items():
            assert b[task][name] == pytest.approx(value, rel=1e-4), (task, name)
