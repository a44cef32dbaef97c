"""The wheel as a user gets it: built from the checkout, installed into a fresh virtual
environment, and its console script run from an empty folder (no checkout, no configs/ beside
it, an empty home and data cache).

The fresh environment reaches the heavy dependencies (torch, …) through a ``.pth`` line naming
this environment's site-packages: a directory added by a ``.pth`` line has its own ``.pth``
files left unread, so this environment's editable install of the checkout does not leak in
(checked: the imported package lies in the fresh environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import sharenas

REPO = Path(__file__).parent.parent


def _run(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    """The wheel built from a copy of the checkout's sources (no build/ left in the checkout,
    and no stale build/ of the checkout in the wheel)."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp / "wheels"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    _run(*pip, "-w", wheels, source, env=env, cwd=tmp)
    (wheel,) = wheels.glob("sharenas-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A new virtual environment holding the wheel; the dependencies read from this one's."""
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, env=env, cwd=tmp)
    python = venv / "bin" / "python"
    purelib = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", env=env, cwd=tmp
    ).stdout.strip()
    (Path(purelib) / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --ignore-installed: pip never touches this environment's editable sharenas
    install = ["-m", "pip", "install", "-q", "--no-deps", "--ignore-installed"]
    _run(python, *install, wheel, env=env, cwd=tmp)
    return venv


@pytest.mark.skipif(sys.platform == "win32", reason="the fresh venv's layout is POSIX's")
def test_the_wheel_installs_and_runs_from_an_empty_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    wheel = _build_wheel(tmp_path, env)
    assert wheel.name == f"sharenas-{sharenas.__version__}-py3-none-any.whl"
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "sharenas/configs/synthetic-mmoe.yaml" in shipped
    venv = _fresh_venv(tmp_path, wheel, env)
    empty, home, data = (tmp_path / n for n in ("empty", "home", "data"))
    for folder in (empty, home, data):
        folder.mkdir()
    env |= {"HOME": str(home), "SHARENAS_DATA": str(data), "SHARENAS_OFFLINE": "1"}
    where = _run(
        venv / "bin" / "python",
        "-c",
        "import sharenas; print(sharenas.__file__)",
        env=env,
        cwd=empty,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    sharenas_command = venv / "bin" / "sharenas"

    def command(*args: str) -> str:
        return _run(sharenas_command, *args, env=env, cwd=empty).stdout

    assert command("--version").strip() == f"sharenas {sharenas.__version__}"
    assert "synthetic-mmoe-routing" in command("configs", "list")
    command("configs", "copy", "synthetic-mmoe")
    assert (empty / "synthetic-mmoe.yaml").is_file()
    command("train", "synthetic-mmoe", "--smoke")
    command("search", "synthetic-mmoe-routing", "--smoke")
    run = empty / "runs" / "smoke" / "synthetic-mmoe-mmoe-s0"
    assert (run / "metrics.json").is_file()
    assert (empty / "runs" / "smoke" / "synthetic-mmoe-routing-s0" / "report.md").is_file()
    command("export", str(run))
    assert (run / "model.onnx").stat().st_size > 0
