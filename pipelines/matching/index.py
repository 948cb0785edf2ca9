"""An in-memory hotlist index built for a million entries.

Lookups find, for a read's plate:

* EXACT: the entry's plate is the read's plate;
* CONFUSABLE: equal once confusable characters are folded (O/0, B/8, ...);
* EDIT_DISTANCE: one insertion, deletion or substitution apart (after folding);
* WILDCARD: the entry's pattern (``*`` any run, ``?`` one character) matches.

The parts, each in its module of this package:

* ``neighbourhood``: the tagged deletion neighbourhood of a key (as SymSpell has it),
  and the 64-bit hashes of its strings, from keys packed into 128-bit integers;
* ``table``: the neighbourhood of the compacted entries as a numpy open-addressing
  hash table (a million entries' 7.5 million strings at about 24 bytes each);
* ``fuzzy``: the EDIT_DISTANCE lookups over it, one read (``lookup``) or a batch
  (``lookup_many``, which is what the match stage uses), vectorised;
* ``matches``: ``Match``, and the same-key and wildcard matches;
* ``state``: everything a lookup reads, swapped in whole by a compaction.

Updates go to a small dict-based delta, folded into the arrays by ``compact()``; a
retraction hides the entry at once. Readers never take a lock: every structure they read
is replaced, not changed in place, or is a dict whose single operations are atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from pipelines.matching.fuzzy import edit_matches_batch, edit_slots
from pipelines.matching.matches import EDIT_DISTANCE, Match, same_key_matches, wildcard_matches
from pipelines.matching.neighbourhood import MAX_FUZZY_LENGTH, TAG_BITS, pack_keys, variants
from pipelines.matching.state import State
from pipelines.matching.table import NeighbourhoodTable
from schemas.plates import confusable_key, is_wildcard
from schemas.records import HotlistEntry

__all__ = ["COMPACT_AFTER", "FUZZY_MIN_LENGTH", "HotlistIndex", "Match"]

COMPACT_AFTER = 50_000
# One edit on a short plate matches a large share of all short plates; like other ALPR
# matchers, tolerate an edit only when both plates have at least this many characters.
FUZZY_MIN_LENGTH = 5


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
        self._state = State.empty()
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
        key = confusable_key(entry.plate)
        if slot is not None and state.slots[slot] is not None and state.keys[slot] == key:
            # A changed entry (priority, dates) under the same plate takes over its slot in
            # one assignment: a reader that already holds the slot's number sees the old
            # entry or the new one, never a gap (retract-then-add would hide it between).
            if is_wildcard(entry.plate):
                state.wildcards = {**state.wildcards, slot: entry}
            state.slots[slot] = entry
            return
        self._retract_locked(entry.entry_id)
        # Order matters for lock-free readers: the slot exists before anything names it.
        slot = len(state.slots)
        state.keys.append(key)
        state.slots.append(entry)
        self._slot_of[entry.entry_id] = slot
        if is_wildcard(entry.plate):
            state.wildcards = {**state.wildcards, slot: entry}
            return
        state.by_key[key] = (*state.by_key.get(key, ()), slot)
        if index_delta and self._fuzzy(key):
            for tag, variant in enumerate(variants(key)):
                state.delta[variant] = (*state.delta.get(variant, ()), slot << TAG_BITS | tag)

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
        state = State.empty()
        state.slots = list(live)
        state.keys = [confusable_key(e.plate) for e in live]
        self._slot_of = {}
        fuzzy: list[int] = []
        for slot, entry in enumerate(live):
            self._slot_of[entry.entry_id] = slot
            if is_wildcard(entry.plate):
                state.wildcards[slot] = entry
                continue
            key = state.keys[slot]
            state.by_key[key] = (*state.by_key.get(key, ()), slot)
            if self._fuzzy(key):
                fuzzy.append(slot)
        state.packed_keys = pack_keys(state.keys)
        state.base = NeighbourhoodTable.build(state.keys, state.packed_keys, fuzzy)
        self._state = state

    def _fuzzy(self, key: str) -> bool:
        return self.max_distance > 0 and self.fuzzy_min_length <= len(key) <= MAX_FUZZY_LENGTH

    # --- reads (any thread, no lock) ---------------------------------------------------------

    def lookup(self, plate: str) -> list[Match]:
        """Every live entry the plate matches, best kind first."""
        state = self._state
        key = confusable_key(plate)
        same_key = state.by_key.get(key)
        matches = same_key_matches(state.slots, plate, same_key) if same_key else []
        if self._fuzzy(key):
            entries = state.slots
            matches += [
                Match(entry, EDIT_DISTANCE)
                for slot in edit_slots(state, key)
                if (entry := entries[slot]) is not None
            ]
        if state.wildcards:
            matches += wildcard_matches(state.wildcards.values(), plate)
        return matches

    def lookup_many(self, plates: Sequence[str]) -> list[list[Match]]:
        """``lookup`` of each plate, the table probed and its hits checked for the whole
        batch at once; only building the answer is done plate by plate."""
        state = self._state
        keys = [confusable_key(plate) for plate in plates]
        same_key = list(map(state.by_key.get, keys))  # None where no entry has the key
        edited: list[list[Match]] = [[] for _ in plates]
        fuzzy = [i for i, key in enumerate(keys) if self._fuzzy(key)]
        if fuzzy:
            fuzzy_keys = [keys[i] for i in fuzzy]
            for i, matches in zip(fuzzy, edit_matches_batch(state, fuzzy_keys), strict=True):
                edited[i] = matches
        wildcards = list(state.wildcards.values())
        results: list[list[Match]] = []
        for plate, slots, edits in zip(plates, same_key, edited, strict=True):
            matches = same_key_matches(state.slots, plate, slots) + edits if slots else edits
            if wildcards:
                matches += wildcard_matches(wildcards, plate)
            results.append(matches)
        return results

    def exact(self, plate: str) -> list[HotlistEntry]:
        """Entries whose plate is exactly this one."""
        state = self._state
        return [
            e
            for s in state.by_key.get(confusable_key(plate), ())
            if (e := state.slots[s]) is not None and e.plate == plate
        ]
