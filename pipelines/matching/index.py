"""An in-memory hotlist index built for a million entries.

Lookups find, for a read's plate:

* EXACT: the entry's plate is the read's plate;
* CONFUSABLE: equal once confusable characters are folded (O/0, B/8, ...);
* EDIT_DISTANCE: one insertion, deletion or substitution apart (after folding);
* WILDCARD: the entry's pattern (``*`` any run, ``?`` one character) matches.

Edit distance uses the deletion neighbourhood (as SymSpell does), each string tagged
with the position of the character removed (0 for the plain key). A read at most one
edit away from an entry shares a string with it under compatible tags: the read's key is
an entry's deletion (the read lost a character), a deletion of the read is the entry's
key (the read has an extra one), or both lost the character at the same position (a
substitution). Deletions at different positions are candidates at distance two, so the
tag drops them without a comparison. The million-entry neighbourhood (about 7.5 million
strings) is kept as 64-bit hashes in a numpy open-addressing table (under half full,
about 24 bytes a string) instead of a dict of strings (over 100 bytes); a hash match
counts only once the entry's string is checked to be the read's.

A string of up to 15 one-byte characters (every plate's) is hashed from its bytes
packed into a 128-bit integer, so a deletion is a shift and a mask, not a new string.
``lookup`` probes the table from Python, a few cells per read; ``lookup_many``, which is
what the match stage uses, hashes, probes and checks a whole batch of reads with
vectorised numpy operations and only makes the matches read by read.

Updates go to a small dict-based delta, folded into the arrays by ``compact()``; a
retraction hides the entry at once. Readers never take a lock: every structure they read
is replaced, not changed in place, or is a dict whose single operations are atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise, repeat
from operator import is_
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from schemas.plates import (
    confusable_key,
    is_wildcard,
    wildcard_pattern,
)
from schemas.records import HotlistEntry, MatchKind

COMPACT_AFTER = 50_000
# Below this many probes still running, a batch lookup finishes them in plain Python.
VECTORISED_PROBES_MIN = 64
# One edit on a short plate matches a large share of all short plates; like other ALPR
# matchers, tolerate an edit only when both plates have at least this many characters.
FUZZY_MIN_LENGTH = 5
# Bound once: enum member access costs more than a global's, and lookups make many.
_EXACT, _CONFUSABLE = MatchKind.EXACT, MatchKind.CONFUSABLE
_EDIT_DISTANCE, _WILDCARD = MatchKind.EDIT_DISTANCE, MatchKind.WILDCARD
_is_none = partial(is_, None)


class Match(NamedTuple):
    # A NamedTuple, not a dataclass: a dense hotlist makes many per lookup, and a
    # frozen dataclass costs several times as much to create.
    entry: HotlistEntry
    kind: MatchKind


class _Neighbourhood:
    """Every indexed (string, tag) of the neighbourhood, as ``slot << TAG_BITS | tag``
    payloads grouped by the string's 64-bit hash, and an open-addressing hash table of
    the groups: linear probing, at most half full, 0 marks an empty cell. A cell holds a
    hash and its group's number; group g's payloads are
    ``payloads[group_starts[g]:group_starts[g + 1]]``.

    A string many entries share (a dense list has many) takes one cell, not a run of
    cells every probe passing by must step over, and a probe stops at its hash's cell.
    A lookup reads a cell or two per variant, through memoryviews so each read is a
    plain Python int: no numpy call per lookup, whose fixed cost would dominate.
    """

    __slots__ = (
        "group_cells",
        "group_start_cells",
        "group_starts",
        "groups",
        "hash_cells",
        "hashes",
        "mask",
        "payload_cells",
        "payloads",
        "shift",
    )

    def __init__(
        self,
        hashes: npt.NDArray[np.uint64],
        groups: npt.NDArray[np.int32],
        group_starts: npt.NDArray[np.int32],
        payloads: npt.NDArray[np.int32],
    ) -> None:
        if len(hashes) & (len(hashes) - 1):
            raise ValueError("the table's size must be a power of two")
        self.hashes, self.groups = hashes, groups
        self.group_starts, self.payloads = group_starts, payloads
        self.hash_cells = hashes.data  # memoryviews
        self.group_cells = groups.data
        self.group_start_cells = group_starts.data
        self.payload_cells = payloads.data
        self.mask = len(hashes) - 1
        # A hash's first cell is its top bits (the best mixed).
        self.shift = 64 - self.mask.bit_length()

    @classmethod
    def empty(cls) -> _Neighbourhood:
        return cls(
            np.zeros(2, np.uint64),
            np.zeros(2, np.int32),
            np.zeros(1, np.int32),
            np.zeros(0, np.int32),
        )

    @classmethod
    def build(cls, keys: list[str], packed: PackedKeys, fuzzy: list[int]) -> _Neighbourhood:
        """The table of the fuzzy slots' keys (``keys`` and ``packed`` are by slot)."""
        slots = np.array(fuzzy, np.int64)
        lengths = packed.lengths[slots]
        hash_parts: list[npt.NDArray[np.uint64]] = []
        payload_parts: list[npt.NDArray[np.int64]] = []
        # The packed keys' variants, vectorised a tag at a time (tag t: keys of at
        # least t characters); keys that do not pack, string by string.
        for tag in range(MAX_FUZZY_LENGTH + 1):
            rows = slots[lengths >= tag]
            hash_parts.append(_packed_hashes(*_under_tags(packed, rows, np.full(rows.size, tag))))
            payload_parts.append(rows << TAG_BITS | tag)
        unpacked = slots[lengths < 0].tolist()
        hash_parts.append(
            np.array(
                [_string_hash(v) for slot in unpacked for v in variants(keys[slot])], np.uint64
            )
        )
        payload_parts.append(
            np.array(
                [slot << TAG_BITS | tag for slot in unpacked for tag in range(len(keys[slot]) + 1)],
                np.int64,
            )
        )
        hashes = np.concatenate(hash_parts)
        payloads = np.concatenate(payload_parts).astype(np.int32)
        del hash_parts, payload_parts
        order = np.argsort(hashes)
        hashes, payloads = hashes[order], payloads[order]
        del order
        group_starts = np.flatnonzero(np.diff(hashes, prepend=np.uint64(0)))
        distinct = hashes[group_starts]
        del hashes
        count = len(distinct)
        bits = max(1, (2 * count - 1).bit_length())
        capacity = 1 << bits
        table_hashes = np.zeros(capacity, np.uint64)
        table_groups = np.zeros(capacity, np.int32)
        # Vectorised linear probing: each round every pending hash tries its cell, one
        # wins each free cell, the others move one cell on. A hash only ever moves past
        # occupied cells, which is what lets a lookup stop at the first empty one.
        position = (distinct >> np.uint64(64 - bits)).astype(np.int64)
        pending = np.arange(count)
        while pending.size:
            cells = position[pending]
            free = np.flatnonzero(table_hashes[cells] == 0)
            won_cells, first = np.unique(cells[free], return_index=True)
            winners = pending[free[first]]
            table_hashes[won_cells] = distinct[winners]
            table_groups[won_cells] = winners
            won = np.zeros(pending.size, bool)
            won[free[first]] = True
            pending = pending[~won]
            position[pending] = (position[pending] + 1) & (capacity - 1)
        return cls(
            table_hashes,
            table_groups,
            np.append(group_starts, len(payloads)).astype(np.int32),
            payloads,
        )


# A deletion's tag is its position + 1 (4 bits); longer keys are matched exactly only.
TAG_BITS = 4
TAG_MASK = (1 << TAG_BITS) - 1
MAX_FUZZY_LENGTH = TAG_MASK


def variants(key: str) -> list[str]:
    """The key (tag 0) and the key with character i removed (tag i + 1), in tag order."""
    return [key, *[key[:i] + key[i + 1 :] for i in range(len(key))]]


def compatible(query_tag: int, entry_tag: int) -> bool:
    """Whether a shared string means "at most one edit apart" (see the module docs)."""
    return not query_tag or not entry_tag or query_tag == entry_tag


class PackedKeys(NamedTuple):
    """Keys of at most MAX_FUZZY_LENGTH one-byte characters, each as a 128-bit
    little-endian integer (two words, zero-padded: the top byte is always free), and
    their lengths; any other key has length -1, and is compared as a string instead."""

    low: npt.NDArray[np.uint64]
    high: npt.NDArray[np.uint64]
    lengths: npt.NDArray[np.int64]


def _pack(keys: Sequence[str]) -> PackedKeys:
    width = MAX_FUZZY_LENGTH + 1
    packable = [len(key) <= MAX_FUZZY_LENGTH for key in keys]
    try:
        data = "".join(
            key.ljust(width, "\0") if ok else "\0" * width
            for key, ok in zip(keys, packable, strict=True)
        ).encode("latin-1")
    except UnicodeEncodeError:  # some character needs more than a byte
        packable = [
            ok and max(key, default="") <= "\xff" for key, ok in zip(keys, packable, strict=True)
        ]
        data = "".join(
            key.ljust(width, "\0") if ok else "\0" * width
            for key, ok in zip(keys, packable, strict=True)
        ).encode("latin-1")
    words = np.frombuffer(data, "<u8").reshape(len(keys), 2)
    lengths = np.fromiter(
        (len(key) if ok else -1 for key, ok in zip(keys, packable, strict=True)),
        np.int64,
        len(keys),
    )
    return PackedKeys(words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64), lengths)


_ALL_BITS = (1 << 64) - 1
# Per tag, the bits of each word a packed key's string under the tag keeps in place
# (those of the characters before the removed one); the others come from one
# character further up. Tag 0 keeps everything.
_KEPT_LOW = np.array(
    [_ALL_BITS, *[(1 << 8 * i) - 1 if i < 8 else _ALL_BITS for i in range(MAX_FUZZY_LENGTH)]],
    np.uint64,
)
_KEPT_HIGH = np.array(
    [_ALL_BITS, *[(1 << 8 * (i - 8)) - 1 if i >= 8 else 0 for i in range(MAX_FUZZY_LENGTH)]],
    np.uint64,
)
_BYTE, _SEVEN_BYTES = np.uint64(8), np.uint64(56)


def _under_tags(
    keys: PackedKeys, rows: npt.NDArray[np.int64], tags: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """The packed strings of keys[rows] under tags (see ``variants``)."""
    low, high = keys.low[rows], keys.high[rows]
    kept_low, kept_high = _KEPT_LOW[tags], _KEPT_HIGH[tags]
    moved_low = (low >> _BYTE) | (high << _SEVEN_BYTES)
    return (
        (low & kept_low) | (moved_low & ~kept_low),
        (high & kept_high) | ((high >> _BYTE) & ~kept_high),
        keys.lengths[rows] - (tags > 0),
    )


# The table's hash of a string that packs: the packed value's low word, mixed with the
# high one (the length in its free top byte), times an odd constant, mod 2**64; the
# table takes a cell from the top bits (multiply-shift hashing). A bijection of the low
# word, so strings of up to 8 characters never collide. Computed for a whole batch with
# numpy, with no string built; strings that do not pack use Python's hash().
_MULTIPLIER = 0x9E3779B97F4A7C15  # odd, its bits well mixed (2**64 / the golden ratio)
_HIGH_MULTIPLIER = 0xC2B2AE3D27D4EB4F  # another odd one
_LENGTH_SHIFT = 8 * MAX_FUZZY_LENGTH


def _one_byte(text: str) -> bool:
    return text.isascii() or max(text) <= "\xff"


def _string_hash(text: str) -> int:
    """The table's hash of any string; never 0, which marks an empty cell."""
    if len(text) <= MAX_FUZZY_LENGTH and _one_byte(text):
        packed = int.from_bytes(text.encode("latin-1"), "little") | len(text) << _LENGTH_SHIFT
        return _hash_packed(packed)
    return (hash(text) & _ALL_BITS) or 1


def _hash_packed(packed: int) -> int:
    return ((packed & _ALL_BITS ^ (packed >> 64) * _HIGH_MULTIPLIER) * _MULTIPLIER & _ALL_BITS) or 1


def _variant_hashes(key: str) -> list[int]:
    """``_string_hash`` of each of ``variants(key)``, from the packed key, without
    building the variants (the single lookup's hot path, so written out)."""
    length = len(key)
    if length > MAX_FUZZY_LENGTH or not _one_byte(key):
        return [_string_hash(variant) for variant in variants(key)]
    packed = int.from_bytes(key.encode("latin-1"), "little")
    first = _hash_packed(packed | length << _LENGTH_SHIFT)
    if not length:
        return [first]
    # Deleting character i: the bits below it stay, those above move down a byte.
    below = _BELOW[:length]
    if length <= 8:  # every variant in the low word: the high one is just the length
        mixed_length = _MIXED_LENGTHS[length - 1]
        return [
            first,
            *[
                (
                    (((packed & kept) | (packed >> above << shift)) ^ mixed_length) * _MULTIPLIER
                    & _ALL_BITS
                )
                or 1
                for kept, shift, above in below
            ],
        ]
    shorter = (length - 1) << _LENGTH_SHIFT
    return [
        first,
        *[
            _hash_packed((packed & kept) | (packed >> above << shift) | shorter)
            for kept, shift, above in below
        ],
    ]


# For each position: the bits of the characters below it, their number, and that of
# the bits up to the character's end.
_BELOW = [((1 << 8 * i) - 1, 8 * i, 8 * i + 8) for i in range(MAX_FUZZY_LENGTH)]
# The high word of a packed string of each length, as _hash_packed mixes it in.
_MIXED_LENGTHS = [
    (length << _LENGTH_SHIFT - 64) * _HIGH_MULTIPLIER & _ALL_BITS
    for length in range(MAX_FUZZY_LENGTH + 1)
]


def _packed_hashes(
    low: npt.NDArray[np.uint64], high: npt.NDArray[np.uint64], lengths: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint64]:
    """``_string_hash`` of packed strings, vectorised."""
    high_word = high | (lengths.astype(np.uint64) << _SEVEN_BYTES)
    hashes: npt.NDArray[np.uint64] = (low ^ (high_word * np.uint64(_HIGH_MULTIPLIER))) * np.uint64(
        _MULTIPLIER
    )
    hashes[hashes == 0] = 1
    return hashes


def _variant(key: str, tag: int) -> str:
    return key[: tag - 1] + key[tag:] if tag else key


@dataclass
class _State:
    """Everything a lookup reads, replaced as a whole by a compaction."""

    slots: list[HotlistEntry | None]  # slot -> entry; None once retracted
    keys: list[str]  # slot -> confusable key, so lookups never fold twice
    by_key: dict[str, tuple[int, ...]]  # confusable key -> slots
    wildcards: dict[int, HotlistEntry]
    base: _Neighbourhood
    # The tagged neighbourhood of entries put since the last compaction: string ->
    # payloads (``slot << TAG_BITS | tag``, as in the table).
    delta: dict[str, tuple[int, ...]]
    # The keys of the slots in ``base``, packed: a batch lookup checks its hash matches
    # with vectorised integer operations, not a string built per match.
    packed_keys: PackedKeys

    @classmethod
    def empty(cls) -> _State:
        return cls([], [], {}, {}, _Neighbourhood.empty(), {}, _pack([]))


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
        state = _State.empty()
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
        state.packed_keys = _pack(state.keys)
        state.base = _Neighbourhood.build(state.keys, state.packed_keys, fuzzy)
        self._state = state

    def _fuzzy(self, key: str) -> bool:
        return self.max_distance > 0 and self.fuzzy_min_length <= len(key) <= MAX_FUZZY_LENGTH

    # --- reads (any thread, no lock) ---------------------------------------------------------

    def lookup(self, plate: str) -> list[Match]:
        """Every live entry the plate matches, best kind first."""
        state = self._state
        key = confusable_key(plate)
        same_key = state.by_key.get(key)
        matches = _same_key_matches(state, plate, same_key) if same_key else []
        if self._fuzzy(key):
            entries = state.slots
            matches += [
                Match(entry, _EDIT_DISTANCE)
                for slot in _edit_slots(state, key)
                if (entry := entries[slot]) is not None
            ]
        if state.wildcards:
            matches += _wildcard_matches(state.wildcards.values(), plate)
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
            for i, matches in zip(fuzzy, _edit_matches_batch(state, fuzzy_keys), strict=True):
                edited[i] = matches
        wildcards = list(state.wildcards.values())
        results: list[list[Match]] = []
        for plate, slots, edits in zip(plates, same_key, edited, strict=True):
            matches = _same_key_matches(state, plate, slots) + edits if slots else edits
            if wildcards:
                matches += _wildcard_matches(wildcards, plate)
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


def _indexed_under(entry_key: str, entry_tag: int, variant: str) -> bool:
    """Whether the entry's string under this tag is ``variant``: the exact check behind
    a hash match (64-bit hashes rarely collide, but a hit must never rest on "rarely")."""
    if not entry_tag:
        return entry_key == variant
    return entry_key[: entry_tag - 1] + entry_key[entry_tag:] == variant


def _edit_slots(state: _State, key: str) -> set[int]:
    """The slots of the entries one edit from ``key`` (not those of the key itself).

    The matcher's hot path for single lookups, so written out: each variant's hash is
    probed cell by cell through memoryviews, and compatible() inlined.
    """
    delta, keys = state.delta, state.keys
    table = state.base
    hash_cells, group_cells, mask, shift = (
        table.hash_cells,
        table.group_cells,
        table.mask,
        table.shift,
    )
    group_starts, payload_cells = table.group_start_cells, table.payload_cells
    slots: set[int] = set()
    for query_tag, wanted in enumerate(_variant_hashes(key)):
        cell = wanted >> shift
        while (stored := hash_cells[cell]) != 0:
            if stored == wanted:
                group = group_cells[cell]
                for payload in payload_cells[group_starts[group] : group_starts[group + 1]]:
                    tag = payload & TAG_MASK
                    if not query_tag or not tag or query_tag == tag:
                        entry_key = keys[slot := payload >> TAG_BITS]
                        if entry_key != key and _indexed_under(
                            entry_key, tag, _variant(key, query_tag)
                        ):
                            slots.add(slot)
                break  # the hash's only cell
            cell = (cell + 1) & mask
    if delta:
        for query_tag, variant in enumerate(variants(key)):
            for payload in delta.get(variant, ()):
                tag, slot = payload & TAG_MASK, payload >> TAG_BITS
                if (
                    compatible(query_tag, tag)
                    and keys[slot] != key
                    and _indexed_under(keys[slot], tag, variant)
                ):
                    slots.add(slot)
    return slots


def _same_key_matches(state: _State, plate: str, slots: Iterable[int]) -> list[Match]:
    """The EXACT then CONFUSABLE matches of the live entries of these slots (all of them
    with the plate's key)."""
    exact: list[Match] = []
    confusable: list[Match] = []
    for slot in slots:
        entry = state.slots[slot]
        if entry is None:
            continue
        if entry.plate == plate:
            exact.append(Match(entry, _EXACT))
        else:
            confusable.append(Match(entry, _CONFUSABLE))
    return exact + confusable


def _wildcard_matches(wildcards: Iterable[HotlistEntry], plate: str) -> list[Match]:
    return [
        Match(entry, _WILDCARD)
        for entry in wildcards
        if wildcard_pattern(entry.plate).fullmatch(plate)
    ]


def _edit_matches_batch(state: _State, keys: list[str]) -> list[list[Match]]:
    """For each (fuzzy) key, the EDIT_DISTANCE matches: the live entries one edit away,
    not those with the same key (``by_key`` has them).

    Every variant of every key is probed together, one vectorised gather per probe step;
    the hash hits are checked against the entries' packed keys, and the
    matches of the whole batch are made in one go.
    """
    # Every variant of every key, packed: whose each is, and its tag, from the lengths.
    packed = _pack(keys)
    lengths = np.fromiter(map(len, keys), np.int64, len(keys))
    owners = np.repeat(np.arange(len(keys)), lengths + 1)
    starts = np.cumsum(lengths + 1) - (lengths + 1)
    query_tags = np.arange(len(owners)) - np.repeat(starts, lengths + 1)
    variant_low, variant_high, variant_length = _under_tags(packed, owners, query_tags)
    wanted = _packed_hashes(variant_low, variant_high, variant_length)
    for unpacked_key in np.flatnonzero(packed.lengths < 0).tolist():  # hashed as strings
        start = int(starts[unpacked_key])
        wanted[start : start + len(keys[unpacked_key]) + 1] = _variant_hashes(keys[unpacked_key])
    probes, payloads = _probe_batch(state.base, wanted)
    query_tag = query_tags[probes]
    entry_tag = payloads & TAG_MASK
    # compatible(), vectorised: most hash matches in a dense list are not.
    usable = (query_tag == 0) | (entry_tag == 0) | (query_tag == entry_tag)
    probes = probes[usable]
    owner, query_tag = owners[probes], query_tag[usable]
    entry_tag, slot = entry_tag[usable], (payloads[usable] >> TAG_BITS).astype(np.int64)
    # The exact check of each hash match: the key's string under its tag is the entry's.
    entry_packed = state.packed_keys
    entry_low, entry_high, entry_length = _under_tags(entry_packed, slot, entry_tag)
    same = (
        (variant_low[probes] == entry_low)
        & (variant_high[probes] == entry_high)
        & (variant_length[probes] == entry_length)
    )
    unpacked = np.flatnonzero((packed.lengths[owner] < 0) | (entry_packed.lengths[slot] < 0))
    for i, key_index, key_tag, tag, entry in zip(
        unpacked.tolist(),
        owner[unpacked].tolist(),
        query_tag[unpacked].tolist(),
        entry_tag[unpacked].tolist(),
        slot[unpacked].tolist(),
        strict=True,
    ):
        same[i] = _indexed_under(state.keys[entry], tag, _variant(keys[key_index], key_tag))
    slot_count = len(entry_packed.lengths)  # fixed for the state, unlike len(state.slots)
    pairs = owner[same] * slot_count + slot[same]
    # One pair per (key, entry), in key order: an entry may share several strings with a
    # key (repeated characters). An entry of the key itself shares the plain key (tags
    # 0 and 0) and is no edit: by_key has it.
    same_key = pairs[(query_tag[same] == 0) & (entry_tag[same] == 0)]
    pairs = np.unique(pairs)
    if same_key.size:
        pairs = pairs[~np.isin(pairs, same_key)]
    owner, slot = pairs // slot_count, pairs % slot_count
    found = _matches_by_owner(state, owner, slot, len(keys))
    if state.delta:
        strings = [variant for key in keys for variant in variants(key)]
        _add_delta_edits(state, keys, strings, owners, query_tags, found)
    return found


def _add_delta_edits(
    state: _State,
    keys: list[str],
    strings: list[str],
    owners: npt.NDArray[np.int64],
    query_tags: npt.NDArray[np.int64],
    found: list[list[Match]],
) -> None:
    """Adds the edits among the entries put since the last compaction (a small dict of
    strings, looked up string by string)."""
    delta, entry_keys = state.delta, state.keys
    edits: dict[int, set[int]] = {}
    for variant, owner, query_tag in zip(
        strings, owners.tolist(), query_tags.tolist(), strict=True
    ):
        for payload in delta.get(variant, ()):
            tag, slot = payload & TAG_MASK, payload >> TAG_BITS
            if (
                compatible(query_tag, tag)
                and entry_keys[slot] != keys[owner]  # the same key: by_key has it
                and _indexed_under(entry_keys[slot], tag, variant)
            ):
                edits.setdefault(owner, set()).add(slot)
    for owner, slots in edits.items():
        found[owner] += [
            Match(entry, _EDIT_DISTANCE)
            for slot in slots
            if (entry := state.slots[slot]) is not None
        ]


def _matches_by_owner(
    state: _State, owner: npt.NDArray[np.int64], slot: npt.NDArray[np.int64], count: int
) -> list[list[Match]]:
    """The EDIT_DISTANCE matches of (owner, slot) pairs sorted by owner, one list per
    owner, retracted entries left out."""
    entries = list(map(state.slots.__getitem__, slot.tolist()))
    # Retracted since the last compaction? (``None in entries`` would call the entries'
    # dataclass __eq__, in Python, on each.)
    if any(map(_is_none, entries)):
        live = np.fromiter((e is not None for e in entries), bool, len(entries))
        owner = owner[live]
        entries = [e for e in entries if e is not None]
    # tuple.__new__ through map() makes the NamedTuples without a Python-level call each.
    matches: list[Match] = list(
        map(tuple.__new__, repeat(Match), zip(entries, repeat(_EDIT_DISTANCE)))
    )
    bounds = np.searchsorted(owner, np.arange(count + 1)).tolist()
    return [matches[start:end] for start, end in pairwise(bounds)]


def _probe_batch(
    table: _Neighbourhood, wanted: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """For each payload under one of the wanted hashes: which wanted, and the payload."""
    cells = (wanted >> np.uint64(table.shift)).astype(np.int64)
    probing, hashes, mask = np.arange(len(wanted)), wanted, table.mask
    found_probes: list[npt.NDArray[np.int64]] = [np.empty(0, np.int64)]
    found_groups: list[npt.NDArray[np.int32]] = [np.empty(0, np.int32)]
    # Most probes end in a step or two; the few in long runs are finished one by one,
    # not with a vectorised step each.
    while probing.size > VECTORISED_PROBES_MIN:
        stored = table.hashes[cells]
        found = stored == hashes
        if found.any():
            found_probes.append(probing[found])
            found_groups.append(table.groups[cells[found]])
        going = (stored != 0) & ~found
        probing, hashes, cells = probing[going], hashes[going], (cells[going] + 1) & mask
    hash_cells, group_cells = table.hash_cells, table.group_cells
    tail_probes: list[int] = []
    tail_groups: list[int] = []
    for probe, start, hashed in zip(probing.tolist(), cells.tolist(), hashes.tolist(), strict=True):
        cell = start
        while (stored_hash := hash_cells[cell]) != 0:
            if stored_hash == hashed:
                tail_probes.append(probe)
                tail_groups.append(group_cells[cell])
                break
            cell = (cell + 1) & mask
    found_probes.append(np.array(tail_probes, np.int64))
    found_groups.append(np.array(tail_groups, np.int32))
    probes, groups = np.concatenate(found_probes), np.concatenate(found_groups)
    # Each group's payloads, one row per payload.
    starts = table.group_starts[groups].astype(np.int64)
    counts = table.group_starts[groups + 1] - starts
    ends = np.cumsum(counts)
    within = np.arange(ends[-1] if ends.size else 0) - np.repeat(ends - counts, counts)
    return np.repeat(probes, counts), table.payloads[np.repeat(starts, counts) + within]
