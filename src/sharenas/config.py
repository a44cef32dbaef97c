"""Configs: YAML files validated by pydantic models, with ``--set a.b=value`` overrides.

Every problem in a config is reported as a :class:`~sharenas.errors.ConfigError` naming the key
path, the value given and what is allowed, with the closest key for a misspelt one.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    create_model,
    field_validator,
    model_validator,
)

from sharenas.architectures.config import ModelConfig
from sharenas.data.builder import DatasetConfig
from sharenas.data.registry import dataset_names, get_dataset_class
from sharenas.engine.config import TrainConfig
from sharenas.errors import ConfigError, DatasetError
from sharenas.plugins import import_named, import_received, is_allowed
from sharenas.run_files import MAX_DEPTH, nesting_depth
from sharenas.search import strategy_class
from sharenas.search.storage import saved
from sharenas.shipped import config_file
from sharenas.spaces import default_space, is_space, space_names, space_spec, space_specs
from sharenas.spaces.spec import SpaceSpec
from sharenas.validation import InvalidKeys, problems_message, validate_model

M = TypeVar("M", bound=BaseModel)


class _SearchSettings(BaseModel):
    """What ``sharenas search`` searches: the space and strategy, and what every space shares
    (the budget, the derivation, the baselines). Each space's and strategy's own section
    (``search.<key>``) is added from the registries (:func:`_search_sections`)."""

    model_config = ConfigDict(extra="forbid")

    space: str = Field(
        default_factory=default_space,
        description="The search space: " + ", ".join(space_names()) + ".",
    )
    strategy: str | None = Field(
        None,
        description="; ".join(
            f"{s.name}: {s.strategies[0]} (default)"
            + (f" or {', '.join(s.strategies[1:])}" if len(s.strategies) > 1 else "")
            for s in space_specs()
        )
        + ". random: search.random_architectures points trained from scratch (partition: "
        "scored by the study's evaluator), the best on validation kept.",
    )
    max_flops: float | None = Field(
        None,
        gt=0,
        description="FLOPs per example the delivered model may use (a hard budget, the one "
        "budget of every space): "
        + "; ".join(f"{s.name}: {s.budget}" for s in space_specs() if s.budget)
        + "; random architectures are drawn among those within it.",
    )
    derive: Literal["none", "finetune", "retrain", "best", "both"] | None = Field(
        None,
        description="After the search: keep the inherited weights (none), fine-tune them, "
        "retrain the derived architecture from scratch, retrain it and keep whichever of "
        "the inherited and the retrained weights scores better on validation (best), or "
        "fine-tune them and also retrain from scratch, delivering the retrained network with "
        "both results recorded (both: the paper's comparisons). Default: the space's ("
        + ", ".join(f"{s.name}: {s.default_derive}" for s in space_specs())
        + "); one-shot searches only (the partition search trains its chosen point).",
    )
    derive_epochs: int | None = Field(
        None,
        ge=1,
        description="Epochs of finetune or retrain (default: train.epochs); with both, of the "
        "fine-tuning (the retraining takes train.epochs).",
    )
    baselines: list[str] | None = Field(
        None,
        description="Hand-designed architectures trained with the same budget for comparison "
        "(default: the space's own: "
        + "; ".join(f"{s.name}: {', '.join(s.baselines)}" for s in space_specs() if s.baselines)
        + "); 'random' adds random_architectures points drawn uniformly from the searched "
        "space, each trained from scratch.",
    )
    random_architectures: int = Field(
        5, ge=1, description="How many random architectures the 'random' baseline trains."
    )

    @field_validator("space")
    @classmethod
    def _known_space(cls, space: str) -> str:
        if not is_space(space):
            raise ValueError(f"choose one of {', '.join(space_names())}")
        return space

    @model_validator(mode="after")
    def _resolve(self) -> _SearchSettings:
        spec = space_spec(self.space)
        if self.strategy is None:
            self.strategy = spec.strategies[0]
        elif self.strategy not in spec.strategies:
            raise ValueError(
                f"strategy {self.strategy!r} does not search the {self.space} space; use "
                f"{' or '.join(spec.strategies)}"
            )
        if self.derive is None:
            self.derive = spec.default_derive
        if self.baselines is None:
            self.baselines = list(spec.baselines)
        return self

    @property
    def space_spec(self) -> SpaceSpec:
        return space_spec(self.space)

    def space_settings(self) -> BaseModel:
        """The searched space's own section (``search.<space>``)."""
        return self.space_spec.settings(self)

    def strategy_settings(self) -> BaseModel | None:
        """The strategy's own section (``search.<strategy>``), when it has one."""
        key = strategy_class(str(self.strategy)).settings_key
        return getattr(self, key) if key else None


def _search_sections() -> dict[str, Any]:
    """Every space's sections, each followed by its strategies' (``search.<key>``)."""
    sections: dict[str, type[BaseModel]] = {}
    for spec in sorted(space_specs(), key=lambda s: not s.is_default):
        sections.update(spec.sections)
        for name in spec.strategies:
            strategy = strategy_class(name)
            if strategy.settings_key and strategy.settings_class:
                sections.setdefault(strategy.settings_key, strategy.settings_class)
    return {key: (model, Field(default_factory=model)) for key, model in sections.items()}


SearchConfig = create_model(  # type: ignore[call-overload]
    "SearchConfig",
    __base__=_SearchSettings,
    __doc__="The search space and strategy of ``sharenas search``.",
    **_search_sections(),
)


class Config(BaseModel):
    """A sharenas run: the task set, the model, the training budget and the seed."""

    model_config = ConfigDict(extra="forbid")

    data: SerializeAsAny[DatasetConfig] = Field(description="The task set: name and parameters.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    search: SearchConfig | None = Field(None, description="What `sharenas search` searches.")
    seed: int = Field(
        0, ge=0, lt=2**32, description="Seed of every random choice of the run (0 … 2³²−1)."
    )

    @property
    def searched(self) -> SearchConfig:
        """The search section (a config without one searches the default space)."""
        if self.search is None:
            raise ConfigError("the config has no search section; add 'search: {space: ...}'.")
        return self.search

    @field_validator("data", mode="before")
    @classmethod
    def _dataset_config(cls, value: Any) -> Any:
        """Python API convenience: a plain dict is validated by its dataset's config class."""
        if isinstance(value, dict) and not isinstance(value, DatasetConfig):
            if value.get("module"):
                import_named(str(value["module"]), "data.module")
            try:
                dataset = get_dataset_class(str(value.get("name")))
            except DatasetError as exc:
                raise ValueError(str(exc)) from None
            return dataset.config_class.model_validate(value)
        return value


class RecordedData(DatasetConfig):
    """A received folder's data section as recorded, its dataset not looked up: what rebuilding
    the delivered model needs when the dataset's module is not allowed or not installed (the
    model is rebuilt from ``inputs.json``, without the data)."""

    model_config = ConfigDict(extra="allow")


def _dataset_available(data: dict[str, Any], key: str) -> bool:
    """Whether a received data section's dataset can be looked up without importing anything
    the user has not allowed (its module, when it names one, is imported if allowed)."""
    module = data.get("module")
    try:
        if module:
            if not is_allowed(str(module)):
                return False
            import_received(module, key)
        get_dataset_class(str(data["name"]))
    except (ConfigError, DatasetError):
        return False
    return True


def build_config(
    raw: Any, source: str = "config", *, received: bool = False, dataset_needed: bool = True
) -> Config:
    """A validated :class:`Config` from a plain mapping (as read from YAML).

    ``raw`` is the user's own config unless ``received`` (a run or search folder's
    ``config.yaml``): then ``data.module`` is imported only when the user allowed it
    (:mod:`sharenas.plugins`), else refused, or, when the dataset is not ``dataset_needed``
    (rebuilding the model from ``inputs.json``), the data section is kept as recorded."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys (data:, seed:, …).")
    data = raw.get("data")
    if not isinstance(data, dict) or "name" not in data:
        raise ConfigError(
            f"{source}: data.name is missing; name the task set, e.g. "
            f"'data: {{name: multimnist}}'. Available: {', '.join(dataset_names())}."
        )
    key = f"{source}: data.module"
    if received and not dataset_needed and not _dataset_available(data, key):
        data_config: DatasetConfig = validate_model(
            RecordedData, data, prefix="data", source=source
        )
        return validate_model(Config, {**raw, "data": data_config}, source=source)
    if data.get("module"):
        (import_received if received else import_named)(data["module"], key)
    try:
        dataset = get_dataset_class(str(data["name"]))
    except DatasetError as exc:
        raise ConfigError(f"{source}: data.name: {exc}") from None
    data_config = validate_model(dataset.config_class, data, prefix="data", source=source)
    return validate_model(Config, {**raw, "data": data_config}, source=source)


def check_task_names(config: Config, tasks: Iterable[str]) -> None:
    """Refuse the config keys that name tasks (``train.task_weights``, ``model.task_backbones``)
    when a name is not one of the task set's ``tasks``."""
    names = list(tasks)
    for key, named in (
        ("train.task_weights", config.train.task_weights),
        ("model.task_backbones", config.model.task_backbones),
    ):
        unknown = [t for t in named if t not in names]
        if unknown:
            raise ConfigError(
                f"{key}: {', '.join(map(repr, unknown))} "
                f"{'is not a task' if len(unknown) == 1 else 'are not tasks'} of the task set "
                f"{config.data.name!r}; its tasks are {', '.join(names)}. Name those, or remove "
                "the entry."
            )


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` refusing a key given twice in one mapping (YAML would keep the last
    silently); a merge key (``<<``) may still be overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"the key {key!r} is given twice in one mapping (lines {first} and "
                        f"{line}); keep one",
                        key_node.start_mark,
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """YAML text as plain data (``yaml.safe_load``), refusing duplicate keys and nesting deeper
    than :data:`MAX_DEPTH` levels."""
    try:
        value = yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:
        value = None
    else:
        if nesting_depth(value) <= MAX_DEPTH:
            return value
    raise yaml.YAMLError(
        f"nested deeper than {MAX_DEPTH} levels; a config is a mapping of sections"
    )


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` → ``(["a", "b"], 3)``; the value is read as YAML (numbers, lists, null…)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set data.seed=3.")
    try:
        value = load_yaml(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        shown = item if len(item) <= 120 else item[:100] + " …"
        raise ConfigError(f"--set {shown!r}: the value is not valid YAML ({exc}).") from None
    return [part.strip() for part in key.strip().split(".")], value


def apply_overrides(raw: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """A copy of ``raw`` with every ``KEY=VALUE`` override set (creating missing mappings)."""
    if nesting_depth(raw) > MAX_DEPTH:
        raise ConfigError(
            f"the config is nested deeper than {MAX_DEPTH} levels; give a mapping of sections."
        )
    result: dict[str, Any] = yaml.safe_load(yaml.safe_dump(raw)) if raw else {}
    for item in overrides or []:
        keys, value = parse_override(item)
        node = result
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                where = ".".join(keys[: depth + 1])
                raise ConfigError(f"--set {item!r}: {where} is {child!r}, not a mapping.")
            node = child
        node[keys[-1]] = value
    return result


def read_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        hint = (
            " (a run folder's config is its config.yaml)" if (path / "config.yaml").exists() else ""
        )
        raise ConfigError(f"{path} is a folder, not a config file; give a YAML file{hint}.")
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file.")
    try:
        raw = load_yaml(path.read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file, so not a YAML config.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys (data:, seed:, …).")
    return raw


def _is_path(annotation: Any) -> bool:
    if annotation is Path:
        return True
    if typing.get_origin(annotation) is not None or isinstance(annotation, types.UnionType):
        return any(_is_path(arg) for arg in typing.get_args(annotation))
    return False


def paths_from_file(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """``raw``, read from the config file ``path``, with the data section's relative file paths
    (``data.path``, ``data.data_dir``: every path field of the dataset's config) resolved from
    the file's folder rather than the working folder. (Paths given with ``--set`` are applied
    afterwards, relative to the working folder.)"""
    data = raw.get("data")
    if not isinstance(data, dict) or "name" not in data:
        return raw  # build_config says what is missing
    try:
        if data.get("module"):
            import_named(data["module"], f"{path}: data.module")
        fields = get_dataset_class(str(data["name"])).config_class.model_fields
    except (ConfigError, DatasetError):
        return raw  # build_config reports it
    folder = Path(path).parent
    resolved = dict(data)
    for key, field in fields.items():
        value = data.get(key)
        if _is_path(field.annotation) and isinstance(value, str) and value:
            given = Path(value).expanduser()
            if not given.is_absolute():
                resolved[key] = os.path.abspath(folder / given)
    return {**raw, "data": resolved}


def _set_key(override: str) -> str:
    """The key path an override sets (``"train.lr=-1"`` → ``"train.lr"``)."""
    return ".".join(parse_override(override)[0])


def _under(path: str, key: str) -> bool:
    """Whether the key path ``path`` is ``key`` or inside it (``train.lr`` is under ``train``,
    ``train.epochs`` is not under ``train.e``)."""
    return path == key or path.startswith((f"{key}.", f"{key}["))


def _file_problems(raw: dict[str, Any], source: str) -> set[str] | None:
    """The key paths at fault in ``raw`` alone (None: it fails before its keys are checked)."""
    try:
        build_config(raw, source=source)
    except InvalidKeys as exc:
        return {path for path, _ in exc.problems}
    except ConfigError:
        return None
    return set()


def _set_label(overrides: list[str], source: str) -> str:
    """Where a problem was given: ``--set A=1 --set B=2 (applied to SOURCE)``."""
    return " ".join(f"--set {o}" for o in overrides) + f" (applied to {source})"


def _blame(exc: InvalidKeys, raw: dict[str, Any], overrides: list[str], source: str) -> str:
    """``exc``'s problems, each blamed on its source: on the ``--set`` options whose keys hold
    it, else on the file when the file alone has it, else (a problem of the combination) on
    every ``--set``."""
    alone = _file_problems(raw, source)
    keys = [(o, _set_key(o)) for o in overrides]
    groups: dict[str, list[str]] = {}
    for path, line in exc.problems:
        named = [o for o, key in keys if _under(path, key)]
        if not named and (alone is None or path in alone):
            groups.setdefault(source, []).append(line)
            continue
        groups.setdefault(_set_label(named or overrides, source), []).append(line)
    return "\n".join(problems_message(where, lines) for where, lines in groups.items())


def build_overridden(raw: dict[str, Any], overrides: list[str] | None, source: str) -> Config:
    """``raw`` (read from ``source``) with the ``--set KEY=VALUE`` overrides applied, validated;
    each invalid key is blamed on its source: a key a ``--set`` option set on that option, a
    key of the file on ``source``."""
    try:
        return build_config(apply_overrides(raw, overrides), source=source)
    except InvalidKeys as exc:
        if not overrides:
            raise
        raise ConfigError(_blame(exc, raw, overrides, source)) from None
    except ConfigError:
        if not overrides or _file_problems(raw, source) != set():
            raise  # the file is at fault too (or alone): as it was reported
        build_config(apply_overrides(raw, overrides), source=_set_label(overrides, source))
        raise  # not reached: the same config fails again


def load_config(path: Path | str, overrides: list[str] | None = None) -> Config:
    """Read, override and validate a YAML config file or a shipped config's name
    (:func:`~sharenas.shipped.config_file`; its relative data paths resolved from its folder)."""
    path = config_file(path)
    return build_overridden(paths_from_file(read_yaml(path), path), overrides, str(path))


def dump_config(config: Config) -> str:
    """The resolved config, defaults included, as YAML; a storage URL without its password
    (credentials are never written or printed)."""
    raw = config.model_dump(mode="json")
    study = (raw.get("search") or {}).get("study") or {}
    if study.get("storage"):
        study["storage"] = saved(study["storage"])
    return yaml.safe_dump(raw, sort_keys=False)
