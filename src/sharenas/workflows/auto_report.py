"""The answer of ``sharenas auto``: every evaluated model on one cross-space front (test Δ_MTL
against FLOPs per example, the budget drawn), a table sorted by validation Δ_MTL, why the
recommended model was chosen, the total cost in baseline trainings and, with ``--seeds``, the
recommended model's paired 95 % intervals against the best baseline and random architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.cache import write_bytes_atomic
from sharenas.config import Config
from sharenas.report.document import Part, markdown
from sharenas.report.figure import save_figure
from sharenas.run_files import read_record
from sharenas.runs.smoke import titled
from sharenas.tabular import Column, Table, number, signed
from sharenas.workflows.auto_plan import AutoPlan
from sharenas.workflows.auto_room import BRANCHING
from sharenas.workflows.auto_scores import REFERENCE_NAME, Candidate, eligible_models, reference_of
from sharenas.workflows.auto_units import Unit

MEASURED_HARD_SHARING = "hard-sharing (the branching search's training less its measurements)"
MARKERS = {"baseline": ("s", "#4c72b0"), "random": ("x", "#8c8c8c"), "search": ("o", "#dd8452")}


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other has both fewer FLOPs and a higher Δ_MTL than, by FLOPs."""
    best, kept = float("-inf"), []
    for flops, delta in sorted(points, key=lambda p: (p[0], -p[1])):
        if delta > best:
            kept.append((flops, delta))
            best = delta
    return kept


def front_figure(
    candidates: list[Candidate],
    chosen: Candidate,
    budget: float,
    path: Path,
    against: str = "single-task",
) -> Path:
    """Test Δ_MTL (against ``against``) by MFLOPs per example of every model, the front and the
    budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for kind, (marker, colour) in MARKERS.items():
        group = [c for c in candidates if c.kind == kind]
        if not group:
            continue
        xs, ys = [c.flops / 1e6 for c in group], [c.test_delta for c in group]
        if marker == "x":
            ax.scatter(xs, ys, marker=marker, color=colour, label=kind)
            continue
        faces = ["none" if c.rung == 0 else colour for c in group]  # hollow: a short rung
        ax.scatter(xs, ys, marker=marker, facecolors=faces, edgecolors=colour, label=kind)
    line = front([(c.flops / 1e6, c.test_delta) for c in candidates])
    ax.step(*zip(*line, strict=True), where="post", color="#55a868", lw=1, label="front (test)")
    ax.axvline(budget / 1e6, color="#c44e52", ls="--", lw=1, label="budget")
    ax.scatter(
        [chosen.flops / 1e6],
        [chosen.test_delta],
        s=220,
        facecolors="none",
        edgecolors="black",
        lw=1.5,
        label="recommended",
    )
    _name_points(ax, candidates)
    ax.margins(x=0.08)
    logarithmic = _flops_axis(ax, [c.flops / 1e6 for c in candidates] + [budget / 1e6])
    ax.set_title("hollow: a search's rung 0 (⌈epochs/η⌉ epochs)", fontsize=8)
    ax.set_xlabel("MFLOPs per example" + (" (log)" if logarithmic else ""))
    ax.set_ylabel(f"test Δ_MTL % against {against} (higher is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    try:
        return save_figure(fig, path)
    finally:
        plt.close(fig)


def _flops_axis(ax: Any, mflops: list[float]) -> bool:
    """A log axis when the FLOPs span a decade or more (its ticks then labelled, minor ones
    too), else a linear one: a log axis over less than a decade shows one tick or none.
    Returns whether the axis is logarithmic."""
    from matplotlib.ticker import LogFormatterSciNotation

    if min(mflops) <= 0 or max(mflops) / min(mflops) < 10:
        return False
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(LogFormatterSciNotation(minor_thresholds=(2, 0.5)))
    return True


def _name_points(ax: Any, candidates: list[Candidate]) -> None:
    """Each model's name beside its point."""
    for c in candidates:
        ax.annotate(
            c.name,
            (c.flops / 1e6, c.test_delta),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=7,
            color="#444444",
        )


def models_table(candidates: list[Candidate], budget: float) -> Table:
    """Every evaluated model, best validation Δ_MTL first."""
    tasks = list(candidates[0].metrics["primary"])
    columns = [
        Column("model", key=True),
        Column("kind"),
        Column("MFLOPs", number(3)),
        Column("within budget", lambda within: "yes" if within else "no"),
        Column("val Δ_MTL %", signed(2)),
        Column("test Δ_MTL %", signed(2)),
        *(Column(f"{t} (test)", number(4)) for t in tasks),
    ]
    ranked = sorted(candidates, key=lambda c: -c.val_delta)
    rows = [
        [
            c.name + (f" (= {c.same_as}'s network)" if c.same_as else ""),
            c.kind,
            c.flops / 1e6,
            c.within(budget),
            c.val_delta,
            c.test_delta,
            *(c.metrics["primary"][t] for t in tasks),
        ]
        for c in ranked
    ]
    return Table("every evaluated model (sorted by validation Δ_MTL)", columns, rows)


def _why(candidates: list[Candidate], chosen: Candidate, plan: AutoPlan) -> list[str]:
    eligible = eligible_models(candidates, plan.budget)
    ranked = sorted((c for c in eligible if c is not chosen), key=lambda c: -c.val_delta)
    runner = ranked[0] if ranked else None
    lines = [
        f"**Recommended: {chosen.name}** ({chosen.flops / 1e6:.3g} MFLOPs per example). It has "
        f"the best validation Δ_MTL ({chosen.val_delta:+.2f} %) of the {len(eligible)} "
        f"model{'s' if len(eligible) != 1 else ''} "
        f"trained with the full budget within {plan.budget / 1e6:.3g} MFLOPs ({plan.budget_from})"
        + (f"; next: {runner.name} ({runner.val_delta:+.2f} %)." if runner else ".")
        + f" On test its Δ_MTL is {chosen.test_delta:+.2f} %."
    ]
    twins = [c for c in candidates if c.same_as]
    if twins:
        lines.append(
            f"Not candidates: {len(twins)} searched or random model(s) build a baseline's network "
            "under another name (marked = in the table); that baseline stands for them."
        )
    best_space = {}
    for c in eligible:
        if c.kind == "search" and c.val_delta > best_space.get(c.space, (None, -1e9))[1]:
            best_space[c.space] = (c, c.val_delta)
    if best_space:
        lines.append(
            "Best of each searched space (full budget): "
            + "; ".join(f"{s}: {c.test_delta:+.2f} % test" for s, (c, _) in best_space.items())
            + "."
        )
    return lines


def total_cost(state: dict[str, Any]) -> tuple[float, float, str]:
    """Seconds of the whole auto run (every unit and the seeds phase), one hard-sharing
    training's seconds and how it was measured (a hard-sharing baseline; else the branching
    search's measuring training less its affinity measurements; else single-task)."""
    units = state.get("units", {})
    total = sum(u.get("seconds", 0.0) for u in units.values()) + state.get("seeds_seconds", 0.0)
    hard = units.get(Unit("baseline", "hard-sharing").key, {})
    if hard.get("seconds") and not _adopted(hard):
        return total, hard["seconds"], "hard-sharing"
    measuring = units.get(BRANCHING.key, {})
    if measuring.get("folder") and measuring.get("seconds"):  # wall seconds, as every unit's
        record = read_record(Path(measuring["folder"]) / "metrics.json")
        retrained = record.get("retrained", {}).get("wall_seconds", 0.0)
        seconds = measuring["seconds"] - record.get("affinity_seconds", 0.0) - retrained
        if seconds > 0:
            return total, seconds, MEASURED_HARD_SHARING
    single = units.get(Unit("baseline", "single-task").key, {}).get("seconds") or 1.0
    return total, single, "single-task"


def _adopted(unit: dict[str, Any]) -> bool:
    """Whether the unit's run was taken from the measuring training, not trained
    (:mod:`auto_adopt`): its seconds are an evaluation's."""
    metrics = Path(unit["folder"]) / "metrics.json" if unit.get("folder") else None
    return bool(metrics and metrics.is_file() and "trained_by" in read_record(metrics))


def _cost(state: dict[str, Any]) -> str:
    total, unit, name = total_cost(state)
    seeds = " (the seeds phase included)" if state.get("seeds_seconds") else ""
    phases, units = state.get("parallel", []), state.get("units", {})
    keys = {k for p in phases for k in p["units"]}  # a phase rerun after a failure: once
    inside = sum(units.get(k, {}).get("seconds", 0.0) for k in keys)
    parallel = (
        f" The {len(phases)} phase(s) run on {phases[0]['workers']} workers took "
        f"{sum(p['wall_seconds'] for p in phases):.4g} s of wall time for units of {inside:.4g} s."
        if phases
        else ""
    )
    return (
        f"Total cost: {total:.4g} s{seeds}, {total / unit:.1f} × one {name} training "
        f"({unit:.3g} s, the same data and epochs) on this machine.{parallel}"
    )


def _decision(state: dict[str, Any]) -> list[str]:
    """The first phase's decision and its evidence (:mod:`auto_room`)."""
    room = state.get("room")
    if state.get("flow") == "thorough" or room is None:
        skipped = state.get("room_skipped")
        why = f"not measured: {skipped}" if skipped else "not measured (--thorough)"
        return [f"**Room:** {why}; every space that applies was searched."]
    evidence = (
        f"Evidence: the affinity tree {room['tree']}; its network {room['delta']:+.2f} % "
        f"Δ_MTL against single-task on validation; noise (bootstrap of the validation rows) "
        f"{room['noise']:.2f} %."
        if room.get("delta") is not None
        else f"Evidence: the affinity tree {room['tree']}; single-task, over the budget, was not "
        "trained for this decision (its Δ_MTL comparison is not measured)."
    )
    why = room["why"][:1].upper() + room["why"][1:]
    if not room["room"]:
        return [f"**Decision: no room — stopped.** {why}.", evidence]
    return [
        f"**Decision: room measured.** {why}; the hand-designed baselines within the "
        f"budget{_room_searches(state)} raced beside it by successive halving (`--thorough` "
        "also searches every other space).",
        evidence,
    ]


def _room_searches(state: dict[str, Any]) -> str:
    searched = list(dict.fromkeys(
        u["name"] for u in state.get("units", {}).values()
        if u.get("kind") in ("search", "study") and u.get("name") != BRANCHING.name))  # fmt: skip
    return f" and the {', '.join(searched)} search" if searched else ""


def _halving(state: dict[str, Any], plan: AutoPlan) -> list[str]:
    lines = []
    if "survivors" in state:
        lines.append(
            f"Searched spaces: {', '.join(plan.searchable()) or 'none'}; successive halving kept "
            f"{', '.join(state.get('survivors', [])) or 'none'} for the full budget "
            f"({state.get('survivors_why', '')})."
        )
    lines += _race(state)
    lines += [f"Left out: {name}: {why}" for name, why in plan.left_out.items()]
    if state.get("flow") == "thorough":
        lines += [f"Not searched: {s}: {why}." for s, why in plan.one_network.items()]
    lines += [
        f"Left out: {name}: {unit['problem']}"
        for name, unit in state.get("units", {}).items()
        if unit.get("problem")
    ]
    return lines


def _race(state: dict[str, Any]) -> list[str]:
    """The successive halving among the models of the room path (:mod:`auto_race`)."""
    race = state.get("race")
    if not race or not (race["continued"] or race["stopped"]):
        return []
    scores = ", ".join(f"{n} {v:+.2f} %" for n, v in race["scores"].items())
    kept, stopped = ", ".join(race["kept"]), ", ".join(race["stopped"]) or "none"
    continued = ", ".join(race["continued"]) or "none"
    return [
        f"Successive halving among the room's models (η = {race['eta']}): validation Δ_MTL "
        f"after {race['epochs']} epochs (a study: its chosen point's short training): "
        f"{scores}. Kept (the best ⌈m/η⌉ of the m paused, ahead of hard-sharing and the tree, "
        f"trained in full): {kept or 'none'}. Continued to the full budget (a baseline "
        f"resumed, a study's choice trained): {continued}; stopped after {race['epochs']} "
        f"epochs (not candidates): {stopped}."
    ]


def _seed_lines(paired: dict[str, Any] | None) -> list[Part]:
    if paired is None:
        return []
    seeds = ", ".join(map(str, paired["seeds"]))
    return [
        f"## Over seeds {seeds}",
        "The choice was made once; each role's architecture was then trained from scratch on "
        "the other seeds, and on the first one too where its delivered weights were a "
        "supernet's (test Δ_MTL %, paired 95 % t intervals of recommended − other):",
        seeds_table(paired),
    ]


def seeds_table(paired: dict[str, Any]) -> Table:
    """Each role's model, its test Δ_MTL per seed and the paired difference with the
    recommended model."""
    columns = [
        Column("role", key=True),
        Column("model", key=True),
        Column("per seed", lambda values: " / ".join(f"{v:+.2f}" for v in values)),
        Column("difference", lambda difference: difference.text(2)),
        Column("verdict"),
    ]
    rows = []
    for role, name in paired["models"].items():
        values = [paired["deltas"][role][s] for s in paired["seeds"]]
        diff = paired["paired"].get(role)
        rows.append([role, name, values, diff, diff.verdict() if diff else None])
    return Table(f"over seeds {', '.join(map(str, paired['seeds']))}", columns, rows)


def write_auto_report(
    out: Path,
    config: Config,
    plan: AutoPlan,
    state: dict[str, Any],
    candidates: list[Candidate],
    chosen: Candidate,
    paired: dict[str, Any] | None,
) -> tuple[dict[str, Path], list[Part]]:
    """``report.md`` and ``front.png``/``.svg`` in ``out``; the report's parts."""
    reference = reference_of(candidates)
    against = (
        "single-task" if reference is None or reference.name == REFERENCE_NAME else "hard-sharing"
    )
    figure = front_figure(candidates, chosen, plan.budget, out / "front.png", against)
    parts: list[Part] = [
        "# "
        + titled(
            f"{config.data.name}: sharenas auto within {plan.budget / 1e6:.3g} MFLOPs per example",
            config,
        ),
        *_decision(state),
        *_why(candidates, chosen, plan),
        *(
            []
            if against == "single-task"
            else ["Every Δ_MTL here is against hard-sharing (single-task was not trained)."]
        ),
        _cost(state),
        *_halving(state, plan),
        "## Every evaluated model (sorted by validation Δ_MTL)",
        "A search's rung 0 had ⌈epochs/η⌉ epochs; every other model the full budget. Random "
        "architectures are drawn within the budget from each searched space.",
        models_table(candidates, plan.budget),
        "![test Δ_MTL against FLOPs of every model](front.png)",
        *_seed_lines(paired),
        "The recommended model is a run folder: `recommended/` (load, predict, export it).",
    ]
    report = out / "report.md"
    write_bytes_atomic(report, markdown(parts).encode())
    return {"report": report, "front": figure}, parts


def facts(plan: AutoPlan, state: dict[str, Any], chosen: Candidate, smoke: bool) -> dict[str, Any]:
    """The answer for programs (``auto --format json``): the budget, the room decision, the
    recommended model with its numbers and folder, and whether it was a smoke run."""
    room = state.get("room")
    decision = "not measured" if room is None else "room" if room["room"] else "no room"
    return {
        "smoke": smoke,
        "budget_flops": plan.budget,
        "budget_from": plan.budget_from,
        "decision": decision,
        "recommended": {
            "name": chosen.name,
            "kind": chosen.kind,
            "folder": str(chosen.folder),
            "flops_per_example": chosen.flops,
            "val_delta_mtl": chosen.val_delta,
            "test_delta_mtl": chosen.test_delta,
            "test_primary": chosen.metrics["primary"],
        },
    }
