"""What a lookup returns, and the matches that need no fuzzy index: those of entries
with the read's own confusable key (EXACT, CONFUSABLE) and of wildcard entries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from schemas.plates import wildcard_pattern
from schemas.records import HotlistEntry, MatchKind

# Bound once: enum member access costs more than a global's, and lookups make many.
EXACT, CONFUSABLE = MatchKind.EXACT, MatchKind.CONFUSABLE
EDIT_DISTANCE, WILDCARD = MatchKind.EDIT_DISTANCE, MatchKind.WILDCARD


class Match(NamedTuple):
    # A NamedTuple, not a dataclass: a dense hotlist makes many per lookup, and a
    # frozen dataclass costs several times as much to create.
    entry: HotlistEntry
    kind: MatchKind


def same_key_matches(
    entries: Sequence[HotlistEntry | None], plate: str, slots: Iterable[int]
) -> list[Match]:
    """The EXACT then CONFUSABLE matches of the live entries of these slots (all of them
    with the plate's key); ``entries`` is the index's slot -> entry list."""
    exact: list[Match] = []
    confusable: list[Match] = []
    for slot in slots:
        entry = entries[slot]
        if entry is None:
            continue
        if entry.plate == plate:
            exact.append(Match(entry, EXACT))
        else:
            confusable.append(Match(entry, CONFUSABLE))
    return exact + confusable


def wildcard_matches(wildcards: Iterable[HotlistEntry], plate: str) -> list[Match]:
    return [
        Match(entry, WILDCARD)
        for entry in wildcards
        if wildcard_pattern(entry.plate).fullmatch(plate)
    ]
