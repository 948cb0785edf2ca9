"""EDIT_DISTANCE lookups: the entries one edit from a read's key, found through the
tagged deletion neighbourhood (``neighbourhood``) in the compacted table (``table``) and
in the delta of entries put since the last compaction.

``edit_slots`` serves one lookup from plain Python, a few cells per read;
``edit_matches_batch``, which is what the match stage uses, hashes, probes and checks a
whole batch of reads with vectorised numpy operations and only makes the matches read
by read.
"""

from __future__ import annotations

from functools import partial
from itertools import pairwise, repeat
from operator import is_

import numpy as np
import numpy.typing as npt

from pipelines.matching.matches import EDIT_DISTANCE, Match
from pipelines.matching.neighbourhood import (
    TAG_BITS,
    TAG_MASK,
    compatible,
    indexed_under,
    pack_keys,
    packed_hashes,
    string_under_tag,
    under_tags,
    variant_hashes,
    variants,
)
from pipelines.matching.state import State
from pipelines.matching.table import probe_batch

_is_none = partial(is_, None)


def edit_slots(state: State, key: str) -> set[int]:
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
    for query_tag, wanted in enumerate(variant_hashes(key)):
        cell = wanted >> shift
        while (stored := hash_cells[cell]) != 0:
            if stored == wanted:
                group = group_cells[cell]
                for payload in payload_cells[group_starts[group] : group_starts[group + 1]]:
                    tag = payload & TAG_MASK
                    if not query_tag or not tag or query_tag == tag:
                        entry_key = keys[slot := payload >> TAG_BITS]
                        if entry_key != key and indexed_under(
                            entry_key, tag, string_under_tag(key, query_tag)
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
                    and indexed_under(keys[slot], tag, variant)
                ):
                    slots.add(slot)
    return slots


def edit_matches_batch(state: State, keys: list[str]) -> list[list[Match]]:
    """For each (fuzzy) key, the EDIT_DISTANCE matches: the live entries one edit away,
    not those with the same key (``by_key`` has them).

    Every variant of every key is probed together, one vectorised gather per probe step;
    the hash hits are checked against the entries' packed keys, and the
    matches of the whole batch are made in one go.
    """
    # Every variant of every key, packed: whose each is, and its tag, from the lengths.
    packed = pack_keys(keys)
    lengths = np.fromiter(map(len, keys), np.int64, len(keys))
    owners = np.repeat(np.arange(len(keys)), lengths + 1)
    starts = np.cumsum(lengths + 1) - (lengths + 1)
    query_tags = np.arange(len(owners)) - np.repeat(starts, lengths + 1)
    variant_low, variant_high, variant_length = under_tags(packed, owners, query_tags)
    wanted = packed_hashes(variant_low, variant_high, variant_length)
    for unpacked_key in np.flatnonzero(packed.lengths < 0).tolist():  # hashed as strings
        start = int(starts[unpacked_key])
        wanted[start : start + len(keys[unpacked_key]) + 1] = variant_hashes(keys[unpacked_key])
    probes, payloads = probe_batch(state.base, wanted)
    query_tag = query_tags[probes]
    entry_tag = payloads & TAG_MASK
    # compatible(), vectorised: most hash matches in a dense list are not.
    usable = (query_tag == 0) | (entry_tag == 0) | (query_tag == entry_tag)
    probes = probes[usable]
    owner, query_tag = owners[probes], query_tag[usable]
    entry_tag, slot = entry_tag[usable], (payloads[usable] >> TAG_BITS).astype(np.int64)
    # The exact check of each hash match: the key's string under its tag is the entry's.
    entry_packed = state.packed_keys
    entry_low, entry_high, entry_length = under_tags(entry_packed, slot, entry_tag)
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
        same[i] = indexed_under(state.keys[entry], tag, string_under_tag(keys[key_index], key_tag))
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
    found = matches_by_owner(state, owner, slot, len(keys))
    if state.delta:
        strings = [variant for key in keys for variant in variants(key)]
        add_delta_edits(state, keys, strings, owners, query_tags, found)
    return found


def add_delta_edits(
    state: State,
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
                and indexed_under(entry_keys[slot], tag, variant)
            ):
                edits.setdefault(owner, set()).add(slot)
    for owner, slots in edits.items():
        found[owner] += [
            Match(entry, EDIT_DISTANCE)
            for slot in slots
            if (entry := state.slots[slot]) is not None
        ]


def matches_by_owner(
    state: State, owner: npt.NDArray[np.int64], slot: npt.NDArray[np.int64], count: int
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
        map(tuple.__new__, repeat(Match), zip(entries, repeat(EDIT_DISTANCE)))
    )
    bounds = np.searchsorted(owner, np.arange(count + 1)).tolist()
    return [matches[start:end] for start, end in pairwise(bounds)]
