"""An in-memory hotlist index built for a million entries.

Lookups find, for a read's plate:

* EXACT: the entry's plate is the read's plate;
* CONFUSABLE: equal once confusable characters are folded (O/0, B/8, ...);
* EDIT_DISTANCE: one insertion, deletion or substitution apart (after folding);
* WILDCARD: the entry's pattern (``*`` any run, ``?`` one character) matches.

Edit distance uses the deletion neighbourhood (as SymSpell does): an entry is indexed
under its key and each key with one character removed; two keys are at most one edit
apart only if their neighbourhoods share a string. The million-entry neighbourhood
(about 8 million strings) is kept as sorted 64-bit hashes in numpy arrays (12 bytes a
string) instead of a dict of strings (over 100), and candidates are verified exactly.

Updates go to a small dict-based delta, folded into the arrays by ``compact()``; a
retraction hides the entry at once. Readers never take a lock: every structure they read
is replaced, not changed in place, or is a dict whose single operations are atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipelines.matching.plates import (
    confusable_key,
    deletions,
    is_wildcard,
    wildcard_pattern,
    within_one_edit,
)
from pipelines.records import HotlistEntry, MatchKind

COMPACT_AFTER = 50_000
# One edit on a short plate matches a large share of all short plates; like other ALPR
# matchers, tolerate an edit only when both plates have at least this many characters.
FUZZY_MIN_LENGTH = 5
_KIND_RANK = {
    MatchKind.EXACT: 3,
    MatchKind.CONFUSABLE: 2,
    MatchKind.EDIT_DISTANCE: 1,
    MatchKind.WILDCARD: 0,
}


@dataclass(frozen=True, slots=True)
class Match:
    entry: HotlistEntry
    kind: MatchKind


@dataclass(frozen=True)
class _Neighbourhood:
    """Sorted hashes of every indexed neighbourhood string, and whose they are."""

    hashes: npt.NDArray[np.int64]
    slots: npt.NDArray[np.int32]

    @classmethod
    def empty(cls) -> _Neighbourhood:
        return cls(np.empty(0, np.int64), np.empty(0, np.int32))

    @classmethod
    def build(cls, keys: list[tuple[int, str]]) -> _Neighbourhood:
        hashes: list[int] = []
        slots: list[int] = []
        for slot, key in keys:
            for variant in {key, *deletions(key)}:
                hashes.append(hash(variant))
                slots.append(slot)
        hash_array = np.fromiter(hashes, np.int64, len(hashes))
        order = np.argsort(hash_array, kind="stable")
        return cls(hash_array[order], np.fromiter(slots, np.int32, len(slots))[order])

    def slots_for(self, variants: list[str]) -> list[int]:
        hashes = self.hashes
        if not len(hashes):
            return []
        wanted = np.array([hash(v) for v in variants], np.int64)
        left = np.searchsorted(hashes, wanted)
        # Almost every lookup misses: one vectorised comparison settles that.
        found = hashes[np.minimum(left, len(hashes) - 1)] == wanted
        if not found.any():
            return []
        matched = wanted[found]
        right = np.searchsorted(hashes, matched, side="right")
        slots: list[int] = []
        for lo, hi in zip(left[found].tolist(), right.tolist(), strict=True):
            slots.extend(self.slots[lo:hi].tolist())
        return slots


@dataclass
class _State:
    """Everything a lookup reads, replaced as a whole by a compaction."""

    slots: list[HotlistEntry | None]  # slot -> entry; None once retracted
    keys: list[str]  # slot -> confusable key, so lookups never fold twice
    by_key: dict[str, tuple[int, ...]]  # confusable key -> slots
    wildcards: dict[int, HotlistEntry]
    base: _Neighbourhood
    delta: dict[str, tuple[int, ...]]  # neighbourhood of entries put since compaction

    @classmethod
    def empty(cls) -> _State:
        return cls([], [], {}, {}, _Neighbourhood.empty(), {})


class HotlistIndex:
    def __init__(
        self,
        entries: Iterable[HotlistEntry] = (),
        max_distance: int = 1,
        fuzzy_min_length: int = FUZZY_MIN_LENGTH,
    ) -> None:
        if max_distance not in (0, 1):
            raise ValueError("max_distance must be 0 or 1")
        self.max_distance = max_distance
        self.fuzzy_min_length = fuzzy_min_length
        self._write_lock = threading.Lock()
        self._state = _State.empty()
        self._slot_of: dict[str, int] = {}  # writers only
        self.bulk_load(entries)

    def __len__(self) -> int:
        return len(self._slot_of)

    def entries(self) -> list[HotlistEntry]:
        return [e for e in self._state.slots if e is not None]

    # --- writes (one at a time: the follower thread or a loader) ----------------------------

    def bulk_load(self, entries: Iterable[HotlistEntry]) -> None:
        """Adds many entries and rebuilds once (the fast path for a snapshot)."""
        with self._write_lock:
            for entry in entries:
                self._put_locked(entry, index_delta=False)
            self._compact_locked()

    def put(self, entry: HotlistEntry, *, defer_fuzzy: bool = False) -> None:
        """Adds or replaces an entry. ``defer_fuzzy`` (while loading a whole topic)
        leaves it out of edit-distance matching until the next ``compact()``."""
        with self._write_lock:
            self._put_locked(entry, index_delta=not defer_fuzzy)
            if len(self._state.delta) > COMPACT_AFTER:
                self._compact_locked()

    def retract(self, entry_id: str) -> None:
        with self._write_lock:
            self._retract_locked(entry_id)

    def compact(self) -> None:
        with self._write_lock:
            self._compact_locked()

    def _put_locked(self, entry: HotlistEntry, *, index_delta: bool) -> None:
        state = self._state
        slot = self._slot_of.get(entry.entry_id)
        if slot is not None and state.slots[slot] == entry:
            return  # a reload of an unchanged entry changes nothing
        self._retract_locked(entry.entry_id)
        # Order matters for lock-free readers: the slot exists before anything names it.
        slot = len(state.slots)
        key = confusable_key(entry.plate)
        state.keys.append(key)
        state.slots.append(entry)
        self._slot_of[entry.entry_id] = slot
        if is_wildcard(entry.plate):
            state.wildcards = {**state.wildcards, slot: entry}
            return
        state.by_key[key] = (*state.by_key.get(key, ()), slot)
        if index_delta and self._fuzzy(key):
            for variant in {key, *deletions(key)}:
                state.delta[variant] = (*state.delta.get(variant, ()), slot)

    def _retract_locked(self, entry_id: str) -> None:
        state = self._state
        slot = self._slot_of.pop(entry_id, None)
        if slot is None:
            return
        entry = state.slots[slot]
        state.slots[slot] = None  # hidden from readers from here on
        if entry is None:
            return
        if slot in state.wildcards:
            state.wildcards = {s: e for s, e in state.wildcards.items() if s != slot}
            return
        key = confusable_key(entry.plate)
        remaining = tuple(s for s in state.by_key.get(key, ()) if s != slot)
        if remaining:
            state.by_key[key] = remaining
        else:
            state.by_key.pop(key, None)

    def _compact_locked(self) -> None:
        """Renumbers live entries into a fresh state and swaps it in with one assignment."""
        live = [e for e in self._state.slots if e is not None]
        state = _State.empty()
        state.slots = list(live)
        state.keys = [confusable_key(e.plate) for e in live]
        self._slot_of = {}
        keys: list[tuple[int, str]] = []
        for slot, entry in enumerate(live):
            self._slot_of[entry.entry_id] = slot
            if is_wildcard(entry.plate):
                state.wildcards[slot] = entry
                continue
            key = state.keys[slot]
            state.by_key[key] = (*state.by_key.get(key, ()), slot)
            if self._fuzzy(key):
                keys.append((slot, key))
        state.base = _Neighbourhood.build(keys)
        self._state = state

    def _fuzzy(self, key: str) -> bool:
        return self.max_distance > 0 and len(key) >= self.fuzzy_min_length

    # --- reads (any thread, no lock) ---------------------------------------------------------

    def lookup(self, plate: str) -> list[Match]:
        """Every live entry the plate matches, best kind first."""
        state = self._state
        key = confusable_key(plate)
        slots = set(state.by_key.get(key, ()))
        if self._fuzzy(key):
            variants = [key, *deletions(key)]
            slots.update(state.base.slots_for(variants))
            delta = state.delta
            if delta:
                for variant in variants:
                    slots.update(delta.get(variant, ()))
        matches: list[Match] = []
        if slots:
            entries, keys = state.slots, state.keys
            for slot in slots:
                entry = entries[slot]
                if entry is None:
                    continue
                if entry.plate == plate:
                    matches.append(Match(entry, MatchKind.EXACT))
                elif keys[slot] == key:
                    matches.append(Match(entry, MatchKind.CONFUSABLE))
                elif len(keys[slot]) >= self.fuzzy_min_length and within_one_edit(keys[slot], key):
                    matches.append(Match(entry, MatchKind.EDIT_DISTANCE))
        for entry in state.wildcards.values():
            if wildcard_pattern(entry.plate).fullmatch(plate):
                matches.append(Match(entry, MatchKind.WILDCARD))
        if len(matches) > 1:
            matches.sort(key=lambda m: _KIND_RANK[m.kind], reverse=True)
        return matches

    def exact(self, plate: str) -> list[HotlistEntry]:
        """Entries whose plate is exactly this one."""
        state = self._state
        return [
            e
            for s in state.by_key.get(confusable_key(plate), ())
            if (e := state.slots[s]) is not None and e.plate == plate
        ]
