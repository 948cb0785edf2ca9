"""The neighbourhood of the indexed keys as a numpy open-addressing hash table.

The million-entry neighbourhood (about 7.5 million strings) is kept as 64-bit hashes
(under half full, about 24 bytes a string) instead of a dict of strings (over 100
bytes); a hash match counts only once the entry's string is checked to be the read's
(the callers in ``fuzzy`` do that). ``probe_batch`` probes a whole batch of hashes with
vectorised numpy operations.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipelines.matching.neighbourhood import (
    MAX_FUZZY_LENGTH,
    TAG_BITS,
    PackedKeys,
    packed_hashes,
    string_hash,
    under_tags,
    variants,
)

# Below this many probes still running, a batch lookup finishes them in plain Python.
VECTORISED_PROBES_MIN = 64


class NeighbourhoodTable:
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
    def empty(cls) -> NeighbourhoodTable:
        return cls(
            np.zeros(2, np.uint64),
            np.zeros(2, np.int32),
            np.zeros(1, np.int32),
            np.zeros(0, np.int32),
        )

    @classmethod
    def build(cls, keys: list[str], packed: PackedKeys, fuzzy: list[int]) -> NeighbourhoodTable:
        """The table of the fuzzy slots' keys (``keys`` and ``packed`` are by slot)."""
        slots = np.array(fuzzy, np.int64)
        lengths = packed.lengths[slots]
        hash_parts: list[npt.NDArray[np.uint64]] = []
        payload_parts: list[npt.NDArray[np.int64]] = []
        # The packed keys' variants, vectorised a tag at a time (tag t: keys of at
        # least t characters); keys that do not pack, string by string.
        for tag in range(MAX_FUZZY_LENGTH + 1):
            rows = slots[lengths >= tag]
            hash_parts.append(packed_hashes(*under_tags(packed, rows, np.full(rows.size, tag))))
            payload_parts.append(rows << TAG_BITS | tag)
        unpacked = slots[lengths < 0].tolist()
        hash_parts.append(
            np.array([string_hash(v) for slot in unpacked for v in variants(keys[slot])], np.uint64)
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


def probe_batch(
    table: NeighbourhoodTable, wanted: npt.NDArray[np.uint64]
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
