"""Pictures of a routing search: the derived routes (layers as rows, sub-networks as columns,
each task's path drawn in its colour) and the reward and policy entropy over the search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sharenas.report.fusion import _pyplot
from sharenas.spaces.routing import INPUT, RoutingGenotype, needed


def route_diagram(arch: dict[str, Any], path: Path) -> Path:
    """Input at the bottom, ``layers_count`` rows of ``experts`` sub-networks, task towers on top;
    an arrow per route source, coloured by the task whose tower reaches it (one offset line per
    task, so shared routes show as parallel arrows). Unused sub-networks are faint."""
    plt = _pyplot()
    genotype = RoutingGenotype.from_dict(arch)
    layers, experts = arch["layers_count"], arch["space_config"]["experts"]
    tasks = [t for t, _ in genotype.towers]
    colours = plt.get_cmap("tab10").colors
    colour = {t: colours[i % len(colours)] for i, t in enumerate(tasks)}
    width = max(experts, len(tasks))
    fig, ax = plt.subplots(figsize=(1.6 * width + 1.5, 1.2 * (layers + 2) + 0.6))

    def block_xy(layer: int, k: int) -> tuple[float, float]:
        return ((k - (experts - 1) / 2) * 1.6, (layer + 1) * 1.2)

    tower_xy = {
        t: ((i - (len(tasks) - 1) / 2) * 1.6, (layers + 1) * 1.2) for i, t in enumerate(tasks)
    }
    used, _ = needed(genotype, layers)
    ax.add_patch(plt.Rectangle((-1.2, -0.2), 2.4, 0.4, facecolor="#eeeeee", edgecolor="#555555"))
    ax.text(0, 0, "input", ha="center", va="center", fontsize=8)
    for layer in range(layers):
        for k in range(experts):
            x, y = block_xy(layer, k)
            on = (layer, k) in used
            ax.add_patch(
                plt.Rectangle(
                    (x - 0.5, y - 0.2),
                    1.0,
                    0.4,
                    facecolor="#dde6f3" if on else "#f7f7f7",
                    edgecolor="#4c72b0" if on else "#cccccc",
                )
            )
            ax.text(
                x,
                y,
                f"L{layer} e{k}",
                ha="center",
                va="center",
                fontsize=7,
                color="black" if on else "#aaaaaa",
            )
    for t, (x, y) in tower_xy.items():
        ax.add_patch(plt.Rectangle((x - 0.55, y - 0.2), 1.1, 0.4, facecolor=colour[t], alpha=0.35))
        ax.text(x, y, t, ha="center", va="center", fontsize=8)

    def arrow(
        start: tuple[float, float], end: tuple[float, float], task: str, offset: float
    ) -> None:
        ax.annotate(
            "",
            xy=(end[0] + offset, end[1] - 0.2),
            xytext=(start[0] + offset, start[1] + 0.2),
            arrowprops={"arrowstyle": "->", "color": colour[task], "lw": 1.3},
        )

    for i, task in enumerate(tasks):
        offset = (i - (len(tasks) - 1) / 2) * 0.12
        seen: set[tuple[int, int]] = set()
        frontier = [(layers, None, genotype.tower(task))]
        while frontier:
            layer, reader, route = frontier.pop()
            end = tower_xy[task] if reader is None else block_xy(layer, reader)
            for source in route.sources:
                arrow(block_xy(layer - 1, source), end, task, offset)
                if layer - 1 >= 1 and (layer - 1, source) not in seen:
                    seen.add((layer - 1, source))
                    frontier.append((layer - 1, source, genotype.layers[layer - 2][source]))
                elif layer - 1 == 0 and (0, source) not in seen:
                    seen.add((0, source))
                    arrow((0.0, 0.0), block_xy(0, source), task, offset)
            if len(route.sources) > 1:
                label = (
                    "gate on input"
                    if route.query == INPUT
                    else f"gate on input of L{layer - 1} e{route.query}"
                )
                ax.text(end[0] + 0.55, end[1] - 0.28, label, fontsize=5, color="#555555")
    ax.set_xlim(-0.8 * width - 1.2, 0.8 * width + 1.2)
    ax.set_ylim(-0.5, (layers + 1) * 1.2 + 0.5)
    ax.axis("off")
    ax.set_title(f"searched routes ({arch.get('strategy', 'routing')})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def search_history_plot(history_path: Path, path: Path) -> Path:
    """Mean reward (or validation loss) and policy entropy after each search epoch."""
    plt = _pyplot()
    rows = [json.loads(line) for line in Path(history_path).read_text().splitlines() if line]
    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    signal = "reward" if any("reward" in r for r in rows) else "val_loss"
    left.plot(epochs, [r.get(signal, float("nan")) for r in rows], marker="o")
    left.set_xlabel("epoch")
    left.set_ylabel(signal.replace("_", " "))
    right.plot(epochs, [r["policy_entropy"] for r in rows], marker="o", color="#c44e52")
    right.set_xlabel("epoch")
    right.set_ylabel("policy entropy (nats, mean per choice)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
