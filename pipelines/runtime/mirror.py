"""A decoded, in-memory view in front of a Faust table, for state a stage needs whole.

Dedup compares a read with every pass of its camera: it wants its state decoded and
grouped (by camera), not a key-value store. A ``TableMirror`` holds that view of the
table's entries (this worker's partitions), drops it when partitions move and decodes it
again once the table is recovered from its changelog, and writes back only what changed.

Faust writes a table key to the changelog partition of the *current stream event*, so
``write`` must run inside an event of the partition the group lives in: dedup's passes
in a read (or tick) of their camera's partition.

A ``TableLayout`` says how table entries map to the groups: ``decode`` one entry (an
entry it cannot read is logged and forgotten: only its memory is lost), ``assemble`` the
decoded entries into groups, and ``changes`` of a group to write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

G = TypeVar("G")
S = TypeVar("S")
E = TypeVar("E")


class TableLayout(Protocol[G, S, E]):
    def decode(self, key: Any, value: Any) -> E:
        """One table entry, decoded; raises if it is not one of ours."""
        ...

    def assemble(self, entries: list[E]) -> dict[G, S]:
        """The groups the decoded entries make."""
        ...

    def changes(self, group: G, state: S) -> tuple[dict[str, Any], Iterable[str]]:
        """The table entries the group changed since last written, and those it removed."""
        ...


class TableMirror(Generic[G, S, E]):
    """Groups of state decoded from ``table`` (a Faust table; a dict in tests)."""

    def __init__(
        self,
        name: str,
        table: MutableMapping[Any, Any],
        layout: TableLayout[G, S, E],
        on_load: Callable[[dict[G, S]], None] = lambda _groups: None,
    ) -> None:
        self.name = name
        self.table = table
        self._layout = layout
        self._on_load = on_load
        self._groups: dict[G, S] = {}
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def forget(self) -> None:
        """Partitions move: the table, restored from the changelog, is the truth."""
        self._loaded = False

    def reload(self) -> None:
        """Decodes the table into memory (this worker's partitions, once recovered)."""
        entries: list[E] = []
        for key, value in list(self.table.items()):
            try:
                entries.append(self._layout.decode(key, value))
            except Exception:
                # Only this entry's memory is lost (a pass starts again, a repeat alerts).
                log.exception("%s: entry %s unreadable; forgotten", self.name, key)
        self._groups = self._layout.assemble(entries)
        self._loaded = True
        self._on_load(self._groups)

    @property
    def groups(self) -> dict[G, S]:
        if not self._loaded:
            self.reload()
        return self._groups

    def __len__(self) -> int:
        return len(self.groups)

    def snapshot(self) -> list[S]:
        """The groups in memory now, without loading (for gauges, from any thread)."""
        return list(self._groups.values())

    def __iter__(self) -> Iterator[G]:
        return iter(list(self.groups))

    def get(self, group: G) -> S | None:
        return self.groups.get(group)

    def setdefault(self, group: G, new: Callable[[], S]) -> S:
        groups = self.groups
        state = groups.get(group)
        if state is None:
            state = groups[group] = new()
        return state

    def pop(self, group: G) -> None:
        """Drops a group from memory; its entries go with its ``changes``."""
        self.groups.pop(group, None)

    def write(self, group: G, state: S) -> None:
        """Writes the group's changes to the table (inside a stream event of its
        partition, see the module docstring)."""
        changed, removed = self._layout.changes(group, state)
        for key, value in changed.items():
            self.table[key] = value
        for key in removed:
            if key in self.table:
                del self.table[key]
