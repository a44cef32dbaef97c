"""Saving a figure atomically (rendered to a temporary file and renamed, so a killed report
never leaves half a figure under its final name), as PNG and SVG, readable at print size.

Print size: a figure wider than a page's text (``PRINT_WIDTH_IN``) is scaled down to it, its
fonts with it; every text is raised to at least ``MIN_PRINTED_PT`` at that size. The saved area
is the figure's tight box (nothing drawn is cut off at its edge), and an automatically ticked
linear axis gets a few plain ticks (no offset such as "+1.23e3", no labels run together)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from sharenas.cache import atomic_path

PRINT_WIDTH_IN = 7.0  # a two-column paper's text width
MIN_PRINTED_PT = 7.0
PAD_IN = 0.05


def drawn_texts(fig: Any) -> list[Any]:
    """Every visible, non-empty text the figure draws (tick labels, axis labels, titles,
    legends, annotations, notes)."""
    from matplotlib.text import Text

    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and str(t.get_text()).strip() and t.get_figure() is not None
    ]


def saved_area(fig: Any) -> Any:
    """The part of the figure that is saved, in inches: its tight box, padded (laid out, not
    rendered)."""
    fig.draw_without_rendering()
    return fig.get_tightbbox(fig.canvas.get_renderer()).padded(PAD_IN)


def print_scale(fig: Any) -> float:
    """How much the saved figure shrinks when printed at most ``PRINT_WIDTH_IN`` wide."""
    return min(1.0, PRINT_WIDTH_IN / saved_area(fig).width)


def _plain_ticks(fig: Any, bins: int = 5) -> None:
    """At most ``bins`` ticks without offset on every automatically ticked linear axis."""
    from matplotlib.ticker import AutoLocator, MaxNLocator, ScalarFormatter

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() != "linear" or type(axis.get_major_locator()) is not AutoLocator:
                continue
            axis.set_major_locator(MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]))
            axis.set_major_formatter(ScalarFormatter(useOffset=False))


def _readable_fonts(fig: Any) -> None:
    """Raise every text below ``MIN_PRINTED_PT`` at print size to it (twice: larger fonts
    widen the saved area a little)."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    for _ in range(2):
        floor = MIN_PRINTED_PT / print_scale(fig)
        small = [text for text in drawn_texts(fig) if text.get_fontsize() < floor]
        if not small:  # readable already: nothing to lay out again
            break
        for text in small:
            text.set_fontsize(floor)
        if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
            with warnings.catch_warnings():  # a crowded figure keeps its layout; the saved
                warnings.filterwarnings("ignore", "Tight layout not applied")  # box is tight
                fig.tight_layout()  # constrained layout lays itself out again when drawn


def save_figure(fig: Any, path: Path, dpi: int = 120) -> Path:
    """Write ``fig`` at ``path`` in the format its suffix names; a PNG gets the same figure as
    SVG beside it (a vector copy for papers). Returns ``path``."""
    _plain_ticks(fig)
    _readable_fonts(fig)
    path = Path(path)
    formats = [path] + ([path.with_suffix(".svg")] if path.suffix == ".png" else [])
    for target in formats:
        with atomic_path(target) as tmp:
            fig.savefig(
                tmp,
                dpi=dpi,
                format=target.suffix.lstrip(".") or "png",
                bbox_inches="tight",
                pad_inches=PAD_IN,
            )
    return path
