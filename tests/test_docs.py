"""The API reference (docs/reference/*.md) documents every public callable it names.

mkdocstrings renders an object without a docstring as a bare signature and does not fail, so this
test does: every ``::: identifier`` of a docs page is imported, and the identifier itself, and,
for a module, every public function and class defined in it, and, for a class, every public method
and property defined in its body must have a docstring. Public means a name without a leading
underscore (the reference's ``filters: ["!^_"]``); for a module with ``__all__``, only its names.
The site itself is built by ``make test`` (``mkdocs build --strict``: a broken link fails there).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)


def reference_identifiers(docs: Path = DOCS) -> list[str]:
    """Every ``::: identifier`` of the pages under ``docs``, in page order."""
    return [
        name
        for page in sorted(docs.rglob("*.md"))
        for name in DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    ]


def resolve(identifier: str) -> object:
    """The object a dotted identifier names: the longest importable module, then attributes."""
    parts = identifier.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(f"{identifier}: no module of it can be imported")


def _unwrap(member: object) -> object:
    """The function behind a descriptor: staticmethod, classmethod, a pydantic validator."""
    for attribute in ("__func__", "wrapped"):
        inner = getattr(member, attribute, None)
        if inner is not None and not isinstance(member, property):
            return _unwrap(inner)
    return member


def _has_docstring(obj: object) -> bool:
    doc = obj.fget.__doc__ if isinstance(obj, property) else getattr(obj, "__doc__", None)
    return bool(doc and doc.strip())


def _class_members(cls: type) -> Iterator[tuple[str, object]]:
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        member = _unwrap(member)
        if isinstance(member, property) or inspect.isfunction(member):
            yield f"{cls.__module__}.{cls.__qualname__}.{name}", member


def _module_members(module: ModuleType) -> Iterator[tuple[str, object]]:
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        member = getattr(module, name)
        if (inspect.isclass(member) or inspect.isfunction(member)) and (
            member.__module__ == module.__name__ or hasattr(module, "__all__")
        ):
            yield f"{module.__name__}.{name}", member
            if inspect.isclass(member):
                yield from _class_members(member)


def documented_objects(identifier: str) -> Iterator[tuple[str, object]]:
    """(name, object) for the identifier and each public callable the reference renders under
    it."""
    obj = resolve(identifier)
    yield identifier, obj
    if inspect.ismodule(obj):
        yield from _module_members(obj)
    elif inspect.isclass(obj):
        yield from _class_members(obj)


def missing_docstrings(identifiers: list[str]) -> list[str]:
    """The names, among everything the identifiers render, that have no docstring."""
    return sorted(
        {
            name
            for identifier in identifiers
            for name, obj in documented_objects(identifier)
            if not _has_docstring(obj)
        }
    )


def test_the_reference_names_the_public_api() -> None:
    identifiers = reference_identifiers()
    assert "sharenas.api" in identifiers
    for base in (
        "sharenas.backbones.base",
        "sharenas.architectures.base",
        "sharenas.spaces.base",
        "sharenas.weightings.base",
        "sharenas.data.builder.DatasetBuilder",
        "sharenas.tasks.spec",
    ):
        assert base in identifiers, f"the API reference lost {base}"


def test_every_documented_public_callable_has_a_docstring() -> None:
    missing = missing_docstrings(reference_identifiers())
    assert not missing, "public callables in the API reference without a docstring:\n" + "\n".join(
        missing
    )


def test_the_check_finds_a_missing_docstring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The check itself: a fake module with an undocumented function, class and method fails it,
    a private one does not."""
    package = tmp_path / "fake_reference_module.py"
    package.write_text(
        '"""A module."""\n'
        "def documented():\n    'Yes.'\n"
        "def undocumented():\n    pass\n"
        "def _private():\n    pass\n"
        "class Thing:\n    'A thing.'\n"
        "    def method(self):\n        pass\n"
        "    @property\n    def size(self):\n        return 1\n"
        "    def _hidden(self):\n        pass\n"
    )
    (tmp_path / "page.md").write_text("# Page\n\n::: fake_reference_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    identifiers = reference_identifiers(tmp_path)
    assert identifiers == ["fake_reference_module"]
    assert missing_docstrings(identifiers) == [
        "fake_reference_module.Thing.method",
        "fake_reference_module.Thing.size",
        "fake_reference_module.undocumented",
    ]
