"""Where the command line's log lines go: sharenas's own at INFO, other libraries' at WARNING
(all at INFO with ``--verbose``, only warnings with ``--quiet``); on a terminal through rich,
otherwise as plain lines that are never wrapped (a long URL or path stays on one line)."""

from __future__ import annotations

import logging
import sys

from rich.console import Console
from rich.logging import RichHandler

OWN = "sharenas"


def _handler(console: Console) -> logging.Handler:
    if console.is_terminal:
        rich = RichHandler(console=console, show_path=False, show_time=False)
        rich.setFormatter(logging.Formatter("%(message)s"))
        return rich
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    return plain


def setup_logging(console: Console, quiet: bool = False, verbose: bool = False) -> None:
    """Route every log record to standard error at the levels above."""
    own = logging.WARNING if quiet else logging.INFO
    others = logging.INFO if verbose and not quiet else logging.WARNING
    logging.basicConfig(level=others, handlers=[_handler(console)], force=True)
    logging.getLogger(OWN).setLevel(own)
