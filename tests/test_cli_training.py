"""The training commands as a user runs them; every shipped config with --smoke. The commands run
through the console script's entry point in this process (the ``cli`` fixture)."""

import json
from pathlib import Path

import pytest

from sharenas.runs.training import evaluate_run

CONFIGS = Path(__file__).parent.parent / "configs"


def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {name: synthetic-mmoe, train_size: 200, val_size: 50, test_size: 50, dim: 8}\n"
        "model: {backbone: {name: mlp, widths: [8]}}\ntrain: {epochs: 2, batch_size: 50}\n"
    )
    return path


def test_train_evaluate_report(tmp_path: Path, cli) -> None:
    config = tiny_config(tmp_path)
    for arch in ("single-task", "hard-sharing", "mmoe"):
        result = cli(
            "train",
            str(config),
            "--arch",
            arch,
            "--out",
            str(tmp_path / arch),
            "--quiet",
            "--seed",
            "3",
        )
        assert result.returncode == 0, result.stderr
        assert f"run folder: {tmp_path / arch}" in " ".join(result.stdout.split())
    record = json.loads((tmp_path / "mmoe" / "metrics.json").read_text())
    assert record["seed"] == 3 and record["arch"] == "mmoe"
    assert evaluate_run(tmp_path / "mmoe", "test") == record["tasks"]
    shown = cli("evaluate", str(tmp_path / "mmoe"), "--split", "val")
    assert shown.returncode == 0 and "task1" in shown.stdout

    report = cli(
        "report",
        *(str(tmp_path / a) for a in ("single-task", "hard-sharing", "mmoe")),
        "--out",
        str(tmp_path / "rep"),
        env={"COLUMNS": "250"},
    )
    assert report.returncode == 0, report.stderr
    table = (tmp_path / "rep" / "report.md").read_text()
    assert "Δ_MTL %" in table and "| single-task | single-task |" in table
    assert "+0.00" in table  # single-task against itself
    assert (tmp_path / "rep" / "report.png").stat().st_size > 1000
    md = cli(
        "report", str(tmp_path / "mmoe"), "--out", str(tmp_path / "rep2"), "-q", "--format", "md"
    )
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("**runs**\n\n| run | arch |") and "wrote" in md.stderr


def test_train_from_arch_json_and_refusals(tmp_path: Path, cli) -> None:
    config = tiny_config(tmp_path)
    first = cli(
        "train",
        str(config),
        "--arch",
        "mmoe",
        "--out",
        str(tmp_path / "a"),
        "--quiet",
        "--set",
        "model.experts=3",
    )
    assert first.returncode == 0, first.stderr
    again = cli(
        "train",
        str(config),
        "--arch",
        str(tmp_path / "a" / "arch.json"),
        "--out",
        str(tmp_path / "b"),
        "--quiet",
    )
    assert again.returncode == 0, again.stderr
    assert "experts: 3" in (tmp_path / "b" / "config.yaml").read_text()

    exists = cli("train", str(config), "--out", str(tmp_path / "a"), "--quiet")
    assert exists.returncode == 2 and "already holds a finished run" in exists.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"genes": []}')
    refused = cli("train", str(config), "--arch", str(bad), "--out", str(tmp_path / "c"))
    assert refused.returncode == 2 and "not a sharenas arch.json" in refused.stderr
    wrong = cli("train", str(config), "--arch", "cross-stich", "--out", str(tmp_path / "d"))
    assert wrong.returncode == 2 and "Did you mean 'cross-stitch'" in wrong.stderr
    image = cli(
        "train", str(config), "--set", "model.backbone.name=cnn", "--out", str(tmp_path / "e")
    )
    assert image.returncode == 2 and "model.backbone" in image.stderr
    assert "Traceback" not in image.stderr + wrong.stderr + refused.stderr


def test_misspelt_backbone_key_names_the_union_member(tmp_path: Path, cli) -> None:
    config = tiny_config(tmp_path)
    result = cli("config", "show", str(config), "--set", "model.backbone.widht=[4]")
    assert result.returncode == 2
    assert "model.backbone.widht: unknown key. Did you mean 'model.backbone.widths'?" in (
        " ".join(result.stderr.split())
    )


def test_synthetic_config_smoke(tmp_path: Path, cli) -> None:
    result = cli(
        "train",
        str(CONFIGS / "synthetic-mmoe.yaml"),
        "--smoke",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["smoke"] is True


@pytest.mark.integration
@pytest.mark.parametrize("name", ["census-income", "multimnist", "mnist-scenes"])
@pytest.mark.parametrize("arch", ["single-task", "nddr"])
def test_real_configs_smoke(online: Path, tmp_path: Path, name: str, arch: str, cli) -> None:
    result = cli(
        "train",
        str(CONFIGS / f"{name}.yaml"),
        "--arch",
        arch,
        "--smoke",
        "--out",
        str(tmp_path / "r"),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert record["epochs_run"] == 2 and record["flops_per_example"] > 0


@pytest.mark.integration
@pytest.mark.parametrize(
    "name",
    [
        "census-fusion",
        "multimnist-fusion",
        "mnist-scenes-fusion",
        "census-routing",
        "diamonds-routing",
        "multimnist-routing",
        "synthetic-mmoe-routing",
        "multimnist-partition",
        "mnist-scenes-partition",
        "digit-domains-partition",
    ],
)
def test_search_configs_smoke(online: Path, tmp_path: Path, name: str, cli) -> None:
    result = cli(
        "search",
        str(CONFIGS / f"{name}.yaml"),
        "--smoke",
        "--out",
        str(tmp_path / "s"),
        "--no-baselines",
    )
    assert result.returncode == 0, result.stderr
    picture = {"routing": "routes.png", "partition": "pareto.png"}.get(
        name.rsplit("-", 1)[-1], "architecture.png"
    )
    assert (tmp_path / "s" / picture).exists()
    if name.endswith("partition"):  # the delivered model costs what the search said
        search = json.loads((tmp_path / "s" / "search" / "metrics.json").read_text())
        model = json.loads((tmp_path / "s" / "search" / "model" / "metrics.json").read_text())
        chosen = next(p for p in search["front"] if p["number"] == search["chosen"])
        assert search["flops_per_example"] == model["flops_per_example"] == chosen["total_flops"]
        assert search["delta_mtl"] == model["delta_mtl"] is not None
