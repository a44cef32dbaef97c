"""A unit of ``sharenas auto``: one baseline, the random architectures of one space, or one
space's search at one rung of successive halving; recorded in ``auto.json`` under its key with
its fields, so that nothing reads them back out of the key."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

# study: a study's points evaluated (short trainings), its choice not yet trained in full
Kind = Literal["baseline", "random", "search", "study"]


@dataclass(frozen=True)
class Unit:
    kind: Kind
    name: str  # the baseline's architecture, or the space
    # a search's rung (0: ⌈epochs/η⌉ epochs; 1: the full budget); a baseline's 0: its training
    # paused after ⌈epochs/η⌉ epochs (None: trained, or continued, to the full budget)
    rung: int | None = None

    @property
    def key(self) -> str:
        """Its key in auto.json and its line in the log: ``baseline mmoe``, ``baseline mmoe,
        rung 0``, ``random fusion``, ``rung 0 fusion``, ``study partition``."""
        if self.kind == "search":
            return f"rung {self.rung} {self.name}"
        paused_baseline = self.kind == "baseline" and self.rung == 0
        return f"{self.kind} {self.name}" + (", rung 0" if paused_baseline else "")

    @property
    def paused(self) -> bool:
        """A baseline's training paused at rung 0, or a study whose choice is not trained yet:
        not a candidate until continued."""
        return (self.kind == "baseline" and self.rung == 0) or self.kind == "study"

    @property
    def space(self) -> str | None:
        return None if self.kind == "baseline" else self.name

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, key: str, record: dict[str, Any]) -> Unit:
        """The unit a record of auto.json describes (one written before units carried their
        fields is read from its key)."""
        if "kind" in record:
            return cls(record["kind"], record["name"], record.get("rung"))
        kind, _, rest = key.partition(" ")  # written before records carried fields
        if kind == "rung":
            rung, _, space = rest.partition(" ")
            return cls("search", space, int(rung))
        return cls(kind, rest)  # type: ignore[arg-type]
