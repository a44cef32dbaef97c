"""Errors that sharenas reports to users.

Every error a user can cause is a :class:`SharenasError`. Its message names the file or config key
at fault and says how to fix it; the CLI prints the message and exits with status 2, without a
traceback.
"""

from __future__ import annotations

import difflib


class SharenasError(Exception):
    """Base class of every error caused by input (configs, files, data, arguments)."""

    exit_code = 2


class ConfigError(SharenasError):
    """A config file or ``--set`` override is invalid."""


class DatasetError(SharenasError):
    """A dataset is unknown, malformed, or does not match what the config declares."""


class DataSourceError(DatasetError):
    """No source of a dataset could be reached or read."""


class ChecksumError(DatasetError):
    """A downloaded or cached file does not have the expected checksum."""


class RunFolderError(SharenasError):
    """A file of a run folder is missing, damaged or not what sharenas wrote."""


class TrainingError(SharenasError):
    """Training cannot go on (e.g. a loss became NaN or infinite)."""


def unknown_name_message(what: str, name: str, known: list[str]) -> str:
    """``unknown WHAT 'NAME'.`` with the closest known name, if any, and every known name."""
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {name!r}.{hint} Available: {', '.join(known)}."
