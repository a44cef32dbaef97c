"""The configs shipped inside the package (``sharenas/configs/*.yaml``): their names and
descriptions, a config argument resolved to a file (a path, or a shipped config's name), and a
shipped config copied out for editing. Nothing here runs code from a config: files are only read
as text (and as YAML by :mod:`sharenas.config`)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from sharenas.cache import write_bytes_atomic
from sharenas.errors import ConfigError

SHIPPED = Path(__file__).parent / "configs"
_SENTENCE = re.compile(r"(.+?[.!?])(?:\s|$)")


def shipped_names() -> list[str]:
    """The shipped configs' names (their file names without ``.yaml``), sorted."""
    return sorted(p.stem for p in SHIPPED.glob("*.yaml"))


def shipped_path(name: str) -> Path | None:
    """The shipped config ``name`` (with or without ``.yaml``), or None if there is none."""
    stem = name.removesuffix(".yaml")
    return SHIPPED / f"{stem}.yaml" if stem in shipped_names() else None


def _is_name(given: str) -> bool:
    """Whether ``given`` can be a shipped config's name: no folder (a ``.yaml`` suffix is
    allowed: ``census-income.yaml`` names the shipped ``census-income``)."""
    return "/" not in given and "\\" not in given


def _did_you_mean(given: str) -> str:
    """`` Did you mean the shipped config 'NAME'?`` for the closest shipped name, or ``""``."""
    close = difflib.get_close_matches(Path(given).stem, shipped_names(), n=1)
    return f" Did you mean the shipped config {close[0]!r}?" if close else ""


def config_file(given: str | Path) -> Path:
    """The config file an argument names: an existing file wins; else a name without a folder
    (``.yaml`` or not) is a shipped config's; else an existing path (a folder: the reader says
    so); else a :class:`ConfigError` naming it."""
    path = Path(given)
    if path.is_file():
        return path
    text = str(given)
    found = shipped_path(text) if _is_name(text) else None
    if found is not None:
        return found
    if path.exists():  # a folder, not a config: read_yaml's error says so
        return path
    raise ConfigError(
        f"{text}: no such config file, and no shipped config of that name.{_did_you_mean(text)} "
        "Give a YAML file's path, or a shipped config's name (`sharenas configs list` shows "
        "them)."
    )


def description(path: Path, width: int = 110) -> str:
    """A config's one-line description: the first sentence of its leading comment, shortened
    to ``width`` characters."""
    lines: list[str] = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("sharenas ") or not text:  # a command example ends the prose
            break
        lines.append(text)
    prose = " ".join(lines)
    match = _SENTENCE.match(prose)
    first = match.group(1) if match else prose
    return first if len(first) <= width else first[: width - 1].rsplit(" ", 1)[0] + " …"


def shipped_configs() -> list[tuple[str, str]]:
    """Every shipped config's name and one-line description."""
    return [(name, description(SHIPPED / f"{name}.yaml")) for name in shipped_names()]


def copy_config(name: str, dest: Path | None = None, force: bool = False) -> Path:
    """Copy the shipped config ``name`` to ``dest`` (default ``./NAME.yaml``; a folder gets
    ``NAME.yaml`` inside it), atomically. An existing file is replaced only with ``force``; a
    symbolic link is never written through."""
    source = shipped_path(name)
    if source is None:
        raise ConfigError(
            f"{name!r} is not a shipped config.{_did_you_mean(name)} `sharenas configs list` "
            f"shows them: {', '.join(shipped_names())}."
        )
    target = Path(dest) if dest is not None else Path(source.name)
    if target.is_dir():  # a folder (a linked one too): the file inside it
        target = target / source.name
    if target.is_symlink():
        raise ConfigError(
            f"{target} is a symbolic link; sharenas does not write through links. Give a plain "
            "file's path (or a folder) as DEST."
        )
    if target.is_dir():
        raise ConfigError(f"{target} is a folder; remove it, or choose another DEST.")
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; choose another DEST, or pass --force.")
    if not target.parent.is_dir():
        raise ConfigError(f"{target}: the folder {target.parent} does not exist; create it first.")
    write_bytes_atomic(target, source.read_bytes())
    return target
