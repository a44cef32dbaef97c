"""Run under torchrun by the tests: ``torchrun_commands.py ARGS… [::: ARGS…]…`` runs each
``sharenas ARGS`` in turn through the console script's entry point (``sharenas.cli.main``) in
these same processes, so that one launch (three interpreters importing torch) serves several
commands. The process group the first command sets up is kept for the next (sharenas joins an
initialised group). Each command's exit status goes to stdout as ``exit N``, from rank 0; the
script itself exits 0 unless a command raised past ``main``."""

from __future__ import annotations

import os
import sys

from sharenas import cli


def main() -> None:
    commands: list[list[str]] = [[]]
    for arg in sys.argv[1:]:
        if arg == ":::":
            commands.append([])
        else:
            commands[-1].append(arg)
    for args in commands:
        sys.argv = ["sharenas", *args]
        try:
            cli.main()
            code = 0
        except SystemExit as stopped:
            code = 0 if stopped.code is None else stopped.code
        if os.environ.get("RANK", "0") == "0":
            print(f"exit {code}", flush=True)


if __name__ == "__main__":
    main()
