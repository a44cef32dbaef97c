"""The configs shipped inside the package (``sharenas/configs/*.yaml``): their names and
descriptions, a config argument resolved to a file (a path, or a shipped config's name), and a
shipped config copied out for editing. Nothing here runs code from a config: files are only read
as text (and as YAML by :mod:`sharenas.config`)."""

from __future__ import annotations

import difflib
import re
import shutil
from pathlib import Path

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
    """Whether ``given`` can only be a shipped config's name: no folder and no YAML suffix."""
    return "/" not in given and "\\" not in given and not given.endswith((".yaml", ".yml"))


def config_file(given: str | Path) -> Path:
    """The config file an argument names: an existing path wins; else a name without a folder
    and without ``.yaml`` is a shipped config's; else a :class:`ConfigError` naming it."""
    path = Path(given)
    if path.exists():
        return path
    text = str(given)
    found = shipped_path(text) if _is_name(text) else None
    if found is not None:
        return found
    close = difflib.get_close_matches(path.stem, shipped_names(), n=1)
    hint = f" Did you mean the shipped config {close[0]!r}?" if close else ""
    raise ConfigError(
        f"{text}: no such config file, and no shipped config of that name.{hint} Give a YAML "
        "file's path, or a shipped config's name (`sharenas configs list` shows them)."
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
    ``NAME.yaml`` inside it). An existing file is replaced only with ``force``."""
    source = shipped_path(name)
    if source is None:
        raise ConfigError(
            f"{name!r} is not a shipped config; `sharenas configs list` shows them: "
            f"{', '.join(shipped_names())}."
        )
    target = Path(dest) if dest is not None else Path(source.name)
    if target.is_dir():
        target = target / source.name
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; choose another DEST, or pass --force.")
    if not target.parent.is_dir():
        raise ConfigError(f"{target}: the folder {target.parent} does not exist; create it first.")
    shutil.copyfile(source, target)
    return target
