"""Pictures of a routing search: the derived routes (layers as rows, sub-networks as columns,
each task's path drawn in its colour) and the reward and policy entropy over the search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.report.figure import save_figure
from sharenas.report.fusion import _pyplot
from sharenas.report.space_figures import register_figures, register_words
from sharenas.run_files import read_lines
from sharenas.spaces.routing import INPUT, RoutingGenotype, RoutingSpace, needed

HALF_W, HALF_H = 0.62, 0.27  # a box's half width and half height (a name and a gate note)


def _gate_note(level: int, sources: tuple[int, ...], query: int) -> str:
    """The second line of a box whose route mixes several sources: what its gate reads."""
    if len(sources) < 2:
        return ""
    return "\ngate: input" if query == INPUT else f"\ngate: L{level} e{query} in"


class _RouteCanvas:
    """Positions of the route diagram: input at the bottom, ``layers`` rows of ``experts``
    sub-networks, the task towers on top."""

    def __init__(self, ax: Any, layers: int, experts: int, tasks: list[str], colour: dict) -> None:
        self.ax, self.layers, self.experts, self.colour = ax, layers, experts, colour
        self.tower = {
            t: ((i - (len(tasks) - 1) / 2) * 1.6, (layers + 1) * 1.2) for i, t in enumerate(tasks)
        }

    def block(self, layer: int, k: int) -> tuple[float, float]:
        """The centre of sub-network ``k`` of ``layer``."""
        return ((k - (self.experts - 1) / 2) * 1.6, (layer + 1) * 1.2)

    def box(self, x: float, y: float, text: str, on: bool) -> None:
        """A sub-network's box at ``(x, y)`` named ``text``; faint unless ``on`` (a task reads
        it)."""
        import matplotlib.patches

        face, edge = ("#dde6f3", "#4c72b0") if on else ("#f7f7f7", "#cccccc")
        rectangle = matplotlib.patches.Rectangle(
            (x - HALF_W, y - HALF_H), 2 * HALF_W, 2 * HALF_H, facecolor=face, edgecolor=edge
        )
        self.ax.add_patch(rectangle)
        colour = "black" if on else "#aaaaaa"
        self.ax.text(x, y, text, ha="center", va="center", fontsize=7, color=colour)

    def arrow(
        self, start: tuple[float, float], end: tuple[float, float], task: str, offset: float
    ) -> None:
        """An arrow from the box at ``start`` to the box at ``end`` in ``task``'s colour,
        shifted sideways by ``offset`` (one line per task)."""
        self.ax.annotate(
            "",
            xy=(end[0] + offset, end[1] - HALF_H),
            xytext=(start[0] + offset, start[1] + HALF_H),
            arrowprops={"arrowstyle": "->", "color": self.colour[task], "lw": 1.3},
        )


def _draw_blocks(canvas: _RouteCanvas, genotype: RoutingGenotype) -> None:
    """The input, every sub-network (faint when no tower reaches it) and the towers."""
    import matplotlib.patches

    ax = canvas.ax
    used, _ = needed(genotype, canvas.layers)
    ax.add_patch(
        matplotlib.patches.Rectangle(
            (-1.2, -HALF_H), 2.4, 2 * HALF_H, facecolor="#eeeeee", edgecolor="#555555"
        )
    )
    ax.text(0, 0, "input", ha="center", va="center", fontsize=8)
    for layer in range(canvas.layers):
        for k in range(canvas.experts):
            route = genotype.layers[layer - 1][k] if layer and (layer, k) in used else None
            note = _gate_note(layer - 1, route.sources, route.query) if route else ""
            canvas.box(*canvas.block(layer, k), f"L{layer} e{k}{note}", (layer, k) in used)
    for t, (x, y) in canvas.tower.items():
        ax.add_patch(
            matplotlib.patches.Rectangle(
                (x - HALF_W, y - HALF_H),
                2 * HALF_W,
                2 * HALF_H,
                facecolor=canvas.colour[t],
                alpha=0.35,
            )
        )
        route = genotype.tower(t)
        note = _gate_note(canvas.layers - 1, route.sources, route.query)
        ax.text(x, y, t + note, ha="center", va="center", fontsize=8)


def _draw_routes(canvas: _RouteCanvas, genotype: RoutingGenotype, task: str, offset: float) -> None:
    """The arrows of every route ``task``'s tower reaches."""
    seen: set[tuple[int, int]] = set()
    frontier = [(canvas.layers, None, genotype.tower(task))]
    while frontier:
        layer, reader, route = frontier.pop()
        end = canvas.tower[task] if reader is None else canvas.block(layer, reader)
        for source in route.sources:
            canvas.arrow(canvas.block(layer - 1, source), end, task, offset)
            if (layer - 1, source) in seen:
                continue
            seen.add((layer - 1, source))
            if layer - 1 >= 1:
                frontier.append((layer - 1, source, genotype.layers[layer - 2][source]))
            else:
                canvas.arrow((0.0, 0.0), canvas.block(0, source), task, offset)


def route_diagram(arch: dict[str, Any], path: Path) -> Path:
    """Input at the bottom, ``layers_count`` rows of ``experts`` sub-networks, task towers on top;
    an arrow per route source, coloured by the task whose tower reaches it (one offset line per
    task, so shared routes show as parallel arrows). A box whose route mixes several sources
    names its gate's query ("gate: L0 e1 in": the input of L0 e1). Unused sub-networks are
    faint."""
    import matplotlib.patches

    plt = _pyplot()
    genotype = RoutingGenotype.from_dict(arch)
    layers, experts = arch["layers_count"], arch["space_config"]["experts"]
    tasks = [t for t, _ in genotype.towers]
    colours = plt.get_cmap("tab10").colors
    colour = {t: colours[i % len(colours)] for i, t in enumerate(tasks)}
    width = max(experts, len(tasks))
    fig, ax = plt.subplots(figsize=(1.6 * width + 4.0, 1.2 * (layers + 2) + 0.6))
    canvas = _RouteCanvas(ax, layers, experts, tasks, colour)
    _draw_blocks(canvas, genotype)
    for i, task in enumerate(tasks):
        _draw_routes(canvas, genotype, task, (i - (len(tasks) - 1) / 2) * 0.12)
    ax.set_xlim(-0.8 * width - 1.2, 0.8 * width + 1.2)
    ax.set_ylim(-0.5, (layers + 1) * 1.2 + 0.5)
    ax.axis("off")
    ax.set_title(f"searched routes ({arch.get('strategy', 'routing')})", fontsize=9)
    handles = [matplotlib.patches.Patch(color=colour[t], label=f"{t}'s route") for t in tasks] + [
        matplotlib.patches.Patch(
            facecolor="#f7f7f7", edgecolor="#cccccc", label="sub-network no task reads"
        )
    ]
    ax.legend(
        handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=0
    )
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def search_history_plot(history_path: Path, path: Path) -> Path:
    """Mean reward (or validation loss) and policy entropy after each search epoch (counted
    from 1); "no architecture steps" in the left panel when the search took none (a smoke run
    whose epochs end before the first one)."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    rows = read_lines(Path(history_path))
    epochs = [r["epoch"] + 1 for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    signal = next((k for k in ("reward", "val_loss") if any(k in r for r in rows)), None)
    if signal is None:
        left.text(0.5, 0.5, "no architecture steps", ha="center", va="center", color="#555555")
        left.set_xticks([])
        left.set_yticks([])
    else:
        left.plot(epochs, [r.get(signal, float("nan")) for r in rows], marker="o")
        left.set_ylabel(signal.replace("_", " "))
        left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("epoch")
    right.plot(epochs, [r["policy_entropy"] for r in rows], marker="o", color="#c44e52")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("epoch")
    right.set_ylabel("policy entropy (nats, mean per choice)")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def _sources(level: int, sources: tuple[int, ...]) -> str:
    """The sub-networks of ``level`` a route reads, in words ("L0 e1 and L0 e2")."""
    names = [f"L{level} e{k}" for k in sources]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _gate(level: int, query: int) -> str:
    """What a gate listens to, in words: the input, or a sub-network's input."""
    return "the input" if query == INPUT else f"the input of L{level} e{query}"


def route_words(arch: dict[str, Any]) -> list[str]:
    """The searched route in words, one line per task tower and per sub-network it uses."""
    genotype = RoutingGenotype.from_dict(arch)
    layers = arch["layers_count"]
    used, _ = needed(genotype, layers)
    lines = []
    for task, route in genotype.towers:
        line = f"- **{task}**: its tower reads {_sources(layers - 1, route.sources)}"
        if len(route.sources) > 1:
            line += f", mixed by a gate on {_gate(layers - 1, route.query)}"
        lines.append(line + ".")
    for layer, k in sorted(used):
        if layer == 0:
            lines.append(f"- L0 e{k} reads the input.")
            continue
        route = genotype.layers[layer - 1][k]
        line = f"- L{layer} e{k} reads {_sources(layer - 1, route.sources)}"
        if len(route.sources) > 1:
            line += f", mixed by a gate on {_gate(layer - 1, route.query)}"
        lines.append(line + ".")
    unused = layers * arch["space_config"]["experts"] - len(used)
    if unused:
        lines.append(f"- {unused} sub-network(s) are read by no task and were removed.")
    return lines


@register_figures(RoutingSpace.name)
def routing_figures(arch: dict[str, Any], history: Path, folder: Path) -> dict[str, Path]:
    """The route diagram and the policy over the search."""
    return {
        "architecture diagram": route_diagram(arch, folder / "routes.png"),
        "search plot": search_history_plot(history, folder / "search.png"),
    }


@register_words(RoutingSpace.name)
def routing_words(arch: dict[str, Any]) -> list[str]:
    """The searched route in words, for report.md."""
    if "layers_count" not in arch:
        return []
    return ["## The searched route, in words", "\n".join(route_words(arch))]
