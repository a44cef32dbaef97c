"""One partition-search worker: ``python -m sharenas.runs.partition_worker FOLDER [INDEX]``.

It reads the search folder's ``config.yaml``, joins the study in its storage and evaluates
partitions until the study holds ``search.study.trials`` of them. ``sharenas search`` starts
``search.study.workers`` of them; more can be started by hand, here or on other machines that
reach the same storage (PostgreSQL) and see the same folder path; give each its own INDEX so
that they sample different points.

The folder's config is received data: a dataset module it names (``data.module``) is imported
only when allowed, by ``$SHARENAS_ALLOW_MODULES`` (which ``sharenas search`` sets for the
workers it starts, from its own config) or an installed package's entry point.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sharenas.errors import ConfigError, SharenasError
from sharenas.runs.folder import read_received_config
from sharenas.runs.partition import worker
from sharenas.search.storage import password_hidden


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or (len(args) == 2 and not args[1].isdigit()):
        print(
            "usage: python -m sharenas.runs.partition_worker SEARCH_FOLDER [INDEX]",
            file=sys.stderr,
        )
        return 2
    folder = Path(args[0])
    path = folder / "config.yaml"
    try:
        if not path.is_file():
            raise ConfigError(f"{folder}: not a partition search folder (no config.yaml).")
        config = read_received_config(path)
        with password_hidden(config.searched.study.storage):  # never in a message it prints
            worker(config, folder, index=int(args[1]) if args[1:] else 1)
    except SharenasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
