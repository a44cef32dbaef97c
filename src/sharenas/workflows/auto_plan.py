"""What ``sharenas auto`` can try for a task set and a FLOPs budget: the hand-designed baselines
that fit it and the search spaces that apply to the task set and the backbone."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from sharenas.backbones.pretrained import weights_skipped
from sharenas.config import Config, apply_overrides, build_config
from sharenas.data.base import TaskSetData
from sharenas.errors import ConfigError
from sharenas.resources import flops_per_example
from sharenas.runs.folder import with_arch, with_search
from sharenas.runs.training import build_model, task_handlers
from sharenas.search.budget import check_reachable, networks_within
from sharenas.spaces.registry import space_names, space_spec, space_specs
from sharenas.spaces.spec import SearchKind

BASELINES = list(dict.fromkeys(b for spec in space_specs() for b in spec.baselines))
REFERENCE = "single-task"  # Δ_MTL is measured against it where it is trained
HARD_SHARING = "hard-sharing"  # the reference where single-task is not trained
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


@dataclass
class AutoPlan:
    """The budget and what fits it: baselines by FLOPs per example, spaces to search, and why
    the others were left out."""

    budget: float
    budget_from: str
    baselines: dict[str, int] = field(default_factory=dict)
    spaces: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    one_network: dict[str, str] = field(default_factory=dict)  # space -> why it is not searched

    def searchable(self) -> list[str]:
        """The spaces whose points within the budget are more than one network."""
        return [s for s in self.spaces if s not in self.one_network]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_flops(config: Config, data: TaskSetData, arch: str) -> int:
    """FLOPs per example of the hand-designed ``arch`` on this task set and backbone."""
    with weights_skipped():  # counting FLOPs needs no pretrained weights
        model, _ = build_model(with_arch(config, arch), data)
    return flops_per_example(model, data.val.example(2))


def parse_budget(text: str, config: Config, data: TaskSetData) -> tuple[float, str]:
    """``--budget``: FLOPs per example (``2.5e7``, ``25M``, ``1.2G``) or a baseline's name (its
    FLOPs); returns the FLOPs and how they were given."""
    if text in BASELINES:
        return float(baseline_flops(config, data, text)), f"{text}'s FLOPs"
    match = re.fullmatch(r"\s*([0-9.]+(?:[eE][+-]?[0-9]+)?)\s*([kmgKMG]?)\s*", text)
    try:
        value = float(match.group(1)) * _SUFFIX[match.group(2).lower()] if match else math.nan
    except ValueError:  # e.g. "1.2.3"
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(
            f"--budget {text!r}: give FLOPs per example (e.g. 2.5e7, 25M, 1.2G) or a "
            f"baseline's name ({', '.join(BASELINES)}) to take its FLOPs."
        )
    return value, "given"


def space_config(config: Config, space: str, epochs: int, budget: float) -> Config:
    """``config`` searching ``space`` within ``budget`` for ``epochs`` epochs; the strategy,
    derivation and baselines are the config's own for its own space, else the space's
    defaults, and a study (the partition space's) of another space's config evaluates at most
    one NSGA-II generation (``search.study.population`` partitions, the corners among them;
    default 20)."""
    raw = with_search(config).model_dump(mode="json")
    search = raw["search"]
    if search["space"] != space:
        search.update(space=space, strategy=None, derive=None, baselines=None)
        if space_spec(space).searched_by is SearchKind.STUDY:  # one generation: the corners
            study = search["study"]  # won every planted seed (trial 1)
            study["trials"] = min(study["trials"], study["population"])
    search["max_flops"] = budget
    scale = epochs / config.train.epochs
    if search.get("derive_epochs"):
        search["derive_epochs"] = max(1, math.ceil(search["derive_epochs"] * scale))
    return build_config(apply_overrides(raw, [f"train.epochs={epochs}"]), source="auto")


def _space_problem(
    config: Config, data: TaskSetData, space: str, budget: float
) -> tuple[str | None, str | None]:
    """(why ``space`` cannot be searched here within ``budget``, why searching it would find
    nothing: every point within the budget builds one network); None where it can / would."""
    settings, spec = with_search(config).searched, space_spec(space)
    example = data.val.example(2)
    try:
        built = spec.create(
            task_handlers(data), data.input_spec, config.model, spec.settings(settings)
        )
        check_reachable(built, budget, example)
    except ConfigError as exc:
        return str(exc), None
    generator = torch.Generator().manual_seed(config.seed)
    if networks_within(built, generator, budget, example) > 1:
        return None, None
    named = built.baseline_of(built.cheapest()) if built.cheapest() is not None else None
    return None, (
        "every point found within the budget (its cheapest, those one decision away, random "
        "draws) builds one network"
        f"{f' (the {named} network)' if named else ''}: nothing to search"
    )


def plan_auto(config: Config, data: TaskSetData, budget_text: str) -> AutoPlan:
    """The budget, the baselines within it (and single-task, the reference), the spaces."""
    budget, given = parse_budget(budget_text, config, data)
    plan = AutoPlan(budget, given)
    for arch in BASELINES:
        try:
            flops = baseline_flops(config, data, arch)
        except ConfigError as exc:
            plan.left_out[arch] = str(exc)
            continue
        if flops <= budget or arch == REFERENCE:
            plan.baselines[arch] = flops
        else:
            plan.left_out[arch] = f"{flops / 1e6:.3g} MFLOPs per example, over the budget"
    for space in space_names():
        problem, one = _space_problem(config, data, space, budget)
        if problem is None:
            plan.spaces.append(space)
        else:
            plan.left_out[f"{space} search"] = problem
        if one is not None:
            plan.one_network[space] = one
    return plan
