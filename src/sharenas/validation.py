"""Validation of config mappings with clear errors: every problem is a
:class:`~sharenas.errors.ConfigError` naming the key path, the value given and what is allowed,
with the closest key for a misspelt one."""

from __future__ import annotations

import difflib
import math
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sharenas.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class InvalidKeys(ConfigError):
    """Invalid values at known keys of ``source``: ``problems`` holds each key path (``train.lr``,
    ``model.towers[0]``) with its line, so that a caller can blame each on where it was set."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(problems_message(source, [line for _, line in problems]))


def problems_message(source: str, lines: list[str]) -> str:
    """``invalid SOURCE:`` and one ``  - line`` per problem."""
    body = "\n".join(f"  - {line}" for line in lines)
    return f"invalid {source}:\n{body}"


def _annotation_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation such as ``Foo | None`` or ``list[Foo]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    if typing.get_origin(annotation) is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(_annotation_models(arg))
    return found


def _model_at(
    model: type[BaseModel] | None, loc: tuple[Any, ...], raw: Any
) -> type[BaseModel] | None:
    """The model that validates the node at ``loc``; a union member is chosen by its ``name``."""
    node = raw
    for part in loc:
        if model is None:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        if isinstance(part, str) and part in model.model_fields:
            candidates = _annotation_models(model.model_fields[part].annotation)
            chosen = [
                c
                for c in candidates
                if isinstance(node, dict)
                and c.model_fields.get("name") is not None
                and c.model_fields["name"].default == node.get("name")
            ]
            model = (chosen or candidates or [None])[0]
        elif not isinstance(part, int):
            return None
    return model


def _key_path(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "(top level)"


def _without_union_tags(loc: tuple[Any, ...], raw: Any) -> tuple[Any, ...]:
    """Drop the tags pydantic puts in the path of a discriminated union (absent from the input)."""
    kept, node = [], raw
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and isinstance(part, str) and part not in node and not last:
            continue  # a union tag such as 'cnn' in model.backbone.cnn.channels
        kept.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(kept)


def _describe(
    model: type[BaseModel], error: dict[str, Any], prefix: str, raw: Any
) -> tuple[str, str]:
    """(the key path, a line saying what is wrong there) for one pydantic error."""
    loc = _without_union_tags(tuple(error["loc"]), raw)
    path = _key_path(prefix, loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1], raw)
        allowed = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" Did you mean {_key_path(prefix, (*loc[:-1], close[0]))!r}?" if close else ""
        return path, f"{path}: unknown key.{hint} Allowed keys here: {', '.join(allowed)}."
    if kind == "missing":
        parent = _model_at(model, loc[:-1], raw)
        field = parent.model_fields.get(str(loc[-1])) if parent is not None else None
        about = f" ({field.description})" if field is not None and field.description else ""
        return path, f"{path}: required key is missing{about}."
    given = error.get("input")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_type" and isinstance(given, bool | int | float):
        message += f" (YAML reads {given!r} as a {type(given).__name__}: quote a name, '\"…\"')"
    elif isinstance(given, bool) and not kind.startswith("bool"):
        message += " (YAML reads true/false/yes/no/on/off as booleans; write a number)"
    return path, f"{path}: given {given!r}: {message}."


def _coerced_booleans(raw: Any, value: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The places where ``raw`` holds a boolean that validation turned into a number (pydantic
    reads true as 1): ``raw`` walked alongside the validated ``value``."""
    if isinstance(raw, bool):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return [loc] if number else []
    found: list[tuple[Any, ...]] = []
    if isinstance(raw, dict):
        for key, item in raw.items():
            if isinstance(value, BaseModel):
                fields = type(value).model_fields
                extra = value.model_extra or {}
                if key in fields:
                    found += _coerced_booleans(item, getattr(value, key), (*loc, key))
                elif key in extra:
                    found += _coerced_booleans(item, extra[key], (*loc, key))
            elif isinstance(value, dict) and key in value:
                found += _coerced_booleans(item, value[key], (*loc, key))
    elif (
        isinstance(raw, list | tuple) and isinstance(value, list | tuple) and len(raw) == len(value)
    ):
        for i, (item, validated) in enumerate(zip(raw, value, strict=True)):
            found += _coerced_booleans(item, validated, (*loc, i))
    return found


LARGEST_INT = 2**63 - 1  # no config number is wider than a 64-bit integer


def _bad_numbers(raw: Any, loc: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """The places where ``raw`` holds a number no key accepts: NaN or infinity (``.inf`` in
    YAML, which pydantic passes through to the arithmetic) or an integer wider than 64 bits."""
    if isinstance(raw, float) and not math.isfinite(raw):
        return [(loc, "a finite number is expected (not NaN or infinity)")]
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) > LARGEST_INT:
        return [(loc, f"out of range (at most {LARGEST_INT} in size)")]
    items = (
        raw.items() if isinstance(raw, dict) else enumerate(raw) if isinstance(raw, list) else []
    )
    return [found for key, item in items for found in _bad_numbers(item, (*loc, key))]


def validate_model(model: type[M], raw: Any, prefix: str = "", source: str = "config") -> M:
    """``model.model_validate(raw)``, with every failure turned into one clear ConfigError; a
    number no key accepts is one (NaN, infinity, wider than 64 bits: :func:`_bad_numbers`), and
    so is a boolean where a number is expected (``--set train.epochs=true`` or ``seed: yes``
    would otherwise read as 1)."""
    bad = _bad_numbers(raw)
    if bad:
        raise InvalidKeys(
            source,
            [
                (path, f"{path}: given {_at(raw, loc)!r}: {why}.")
                for loc, why in bad
                for path in [_key_path(prefix, loc)]
            ],
        )
    try:
        validated = model.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(model, e, prefix, raw) for e in exc.errors()]
        raise InvalidKeys(source, problems) from None
    booleans = _coerced_booleans(raw, validated)
    if booleans:
        problems = [
            (
                path,
                f"{path}: given {_at(raw, loc)!r}: a number is expected, not a boolean (YAML "
                "reads true/false/yes/no/on/off as booleans); write the number.",
            )
            for loc in booleans
            for path in [_key_path(prefix, loc)]
        ]
        raise InvalidKeys(source, problems)
    return validated


def _at(raw: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        raw = raw[part]
    return raw
