from pathlib import Path

import pytest

from sharenas.config import apply_overrides, build_config, dump_config, load_config
from sharenas.data.multimnist import MultiMnistConfig
from sharenas.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_defaults_are_filled_in(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "data:\n  name: multimnist\n"))
    assert isinstance(config.data, MultiMnistConfig)
    assert (config.data.digits, config.data.canvas, config.seed) == (2, 36, 0)
    dumped = dump_config(config)
    assert "canvas: 36" in dumped and "seed: 0" in dumped


def test_set_overrides_nested_keys_with_yaml_values(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  name: multimnist\n")
    config = load_config(path, ["data.digits=3", "seed=7", "data.limit=100"])
    assert (config.data.digits, config.seed, config.data.limit) == (3, 7, 100)


def test_apply_overrides_creates_mappings_and_leaves_input_alone() -> None:
    raw = {"data": {"name": "census-income"}}
    out = apply_overrides(raw, ["data.tasks=[income, education]", "a.b.c=null"])
    assert out["data"]["tasks"] == ["income", "education"]
    assert out["a"] == {"b": {"c": None}}
    assert raw == {"data": {"name": "census-income"}}


@pytest.mark.parametrize("item", ["novalue", "=3", "data.digits=[1,"])
def test_malformed_set_is_a_clear_error(item: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        apply_overrides({}, [item])


def test_set_into_a_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match="data.name is 'x', not a mapping"):
        apply_overrides({"data": {"name": "x"}}, ["data.name.sub=1"])


def test_misspelt_key_names_path_and_closest_match(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  name: multimnist\n  digts: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "data.digts: unknown key" in message
    assert "Did you mean 'data.digits'?" in message


def test_misspelt_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'seed'"):
        load_config(write(tmp_path, "data: {name: multimnist}\nsed: 3\n"))


def test_wrong_type_names_key_value_and_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  name: multimnist\n  canvas: wide\n")
    with pytest.raises(ConfigError, match=r"data\.canvas: given 'wide': .*valid integer"):
        load_config(path)


def test_out_of_range_value(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  name: multimnist\n")
    with pytest.raises(ConfigError, match=r"data\.canvas: given 20: .*greater than or equal to 32"):
        load_config(path, ["data.canvas=20"])


def test_literal_choice_lists_allowed_values(tmp_path: Path) -> None:
    path = write(tmp_path, "data:\n  name: multimnist\n  digits: 4\n")
    with pytest.raises(ConfigError, match=r"data\.digits: given 4: Input should be 2 or 3"):
        load_config(path)


def test_list_item_error_names_index() -> None:
    raw = {"data": {"name": "census-income", "tasks": ["income", "salary"]}}
    with pytest.raises(ConfigError, match=r"data\.tasks\[1\]: given 'salary'"):
        build_config(raw)


def test_unknown_dataset_suggests_closest() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'multimist'. Did you mean 'multimnist'"):
        build_config({"data": {"name": "multimist"}})


def test_missing_required_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"data\.path: required key is missing"):
        build_config({"data": {"name": "tabular-csv", "targets": {"y": "binary"}}})


def test_missing_data_section() -> None:
    with pytest.raises(ConfigError, match="data.name is missing"):
        build_config({"seed": 1})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "data: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_cross_field_validation(tmp_path: Path) -> None:
    raw = {"data": {"name": "mnist-scenes", "min_digits": 4, "max_digits": 2}}
    with pytest.raises(ConfigError, match="min_digits .* must not exceed max_digits"):
        build_config(raw)


def test_several_errors_reported_together() -> None:
    raw = {"data": {"name": "multimnist", "canvas": 1, "digits": 9}, "seed": -1}
    with pytest.raises(ConfigError) as info:
        build_config(raw)
    assert "data.canvas" in str(info.value) and "data.digits" in str(info.value)


def test_python_api_accepts_plain_dict() -> None:
    from sharenas.config import Config

    config = Config(data={"name": "synthetic-mmoe", "correlation": 0.9})
    assert config.data.correlation == 0.9  # type: ignore[attr-defined]


def test_the_study_budget_fraction_gave_way_to_max_flops() -> None:
    """A config.yaml written before the one budget key records ``flops_budget: null``: it still
    loads; a budget given as a fraction of share-all's FLOPs is refused with the new key."""
    data = {"name": "synthetic-mmoe", "train_size": 50, "val_size": 10, "test_size": 10}
    old = build_config(
        {"data": data, "search": {"space": "partition", "study": {"flops_budget": None}}}
    )
    assert old.searched.max_flops is None
    with pytest.raises(ConfigError, match=r"search\.max_flops"):
        build_config(
            {"data": data, "search": {"space": "partition", "study": {"flops_budget": 0.5}}}
        )


def test_every_space_and_strategy_has_its_section_and_defaults() -> None:
    """The search section is built from the registries: each space's strategies, default
    strategy, derivation and baselines come from its spec."""
    from sharenas.search import strategy_class
    from sharenas.spaces import space_specs

    data = {"name": "synthetic-mmoe", "train_size": 50, "val_size": 10, "test_size": 10}
    for spec in space_specs():
        search = build_config({"data": data, "search": {"space": spec.name}}).searched
        assert search.strategy == spec.strategies[0]
        assert search.derive == spec.default_derive
        assert search.baselines == list(spec.baselines)
        assert type(search.space_settings()) is spec.sections[spec.settings_key]
        for name in spec.strategies:
            key = strategy_class(name).settings_key
            assert key is None or hasattr(search, key)
    with pytest.raises(ConfigError, match="does not search the fusion space"):
        build_config({"data": data, "search": {"space": "fusion", "strategy": "nsga2"}})
