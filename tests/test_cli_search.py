import json
from pathlib import Path


def search_config(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        "data: {name: synthetic-mmoe, train_size: 400, val_size: 50, test_size: 50, dim: 8}\n"
        "model: {backbone: {name: mlp, widths: [8, 8]}}\n"
        "train: {epochs: 2, batch_size: 50}\n"
        "search:\n  fusion: {own_weight: 0.8, depth_limit: 2}\n"
        "  baselines: [single-task, nddr]\n"
    )
    return path


def test_search_command_writes_everything(tmp_path: Path, cli) -> None:
    config = search_config(tmp_path)
    out = tmp_path / "out"
    result = cli("search", str(config), "--out", str(out), "--smoke", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for name in (
        "architecture.png",
        "gates.png",
        "report.md",
        "report.png",
        "search/arch.json",
        "search/metrics.json",
        "search/supernet/history.jsonl",
        "search/best.pt",
        "search/config.yaml",
        "baselines/single-task/metrics.json",
        "baselines/nddr/metrics.json",
    ):
        assert (out / name).exists(), name
    table = (out / "report.md").read_text()
    assert "fusion (searched)" in table and "| nddr |" in table
    record = json.loads((out / "search" / "metrics.json").read_text())
    assert record["candidate_edges"] == 6  # 2 directions × (1 + 2) edges over 2 stages
    assert "edges kept:" in result.stdout and "architecture diagram:" in result.stdout
    assert "delivered model (a run folder):" in result.stdout

    again = cli("search", str(config), "--out", str(out), "--no-baselines")  # a real search
    assert again.returncode == 2 and "pass --resume" in again.stderr  # never over a finished one
    replaced = cli("search", str(config), "--out", str(out), "--smoke", "--no-baselines")
    assert replaced.returncode == 0, replaced.stderr  # a smoke search replaces its smoke run
    resumed = cli("search", str(config), "--out", str(out), "--smoke", "--resume", "--no-baselines")
    assert resumed.returncode == 0, resumed.stderr


def test_search_config_errors(tmp_path: Path, cli) -> None:
    config = search_config(tmp_path)
    result = cli("search", str(config), "--set", "search.fusion.conectivity=all-earlier")
    assert result.returncode == 2
    assert "Did you mean 'search.fusion.connectivity'" in result.stderr
    result = cli("search", str(config), "--set", "search.fusion.connectivity=random")
    assert result.returncode == 2 and "search.fusion.connectivity: given 'random'" in (
        result.stderr
    )


def test_training_a_searched_architecture_needs_no_out_of_its_own(tmp_path: Path, cli) -> None:
    """``search`` and then ``train --arch its arch.json``, both without ``--out``: the training
    goes beside the search's folder (``…-fusion-trained-s0``), not into it (it was refused)."""
    config = search_config(tmp_path)
    searched = cli("search", str(config), "--smoke", "--no-baselines", cwd=tmp_path)
    assert searched.returncode == 0, searched.stderr
    search_folder = tmp_path / "runs" / "smoke" / "synthetic-mmoe-fusion-s0"
    arch = search_folder / "search" / "arch.json"
    trained = cli("train", str(config), "--arch", str(arch), "--smoke", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert (search_folder.with_name("synthetic-mmoe-fusion-trained-s0") / "metrics.json").exists()
