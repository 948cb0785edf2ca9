"""The batch lookup's own code paths: packed keys, vectorised hash-match checks, and the
fallbacks for keys that do not pack, each checked against the plain string versions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.matching.index import HotlistIndex
from pipelines.matching.neighbourhood import (
    MAX_FUZZY_LENGTH,
    pack_keys,
    packed_hashes,
    string_hash,
    under_tags,
    variant_hashes,
    variants,
)
from tests.factories import an_entry

# Confusables, a byte character past ASCII, NUL (the padding's code) and characters
# needing more than a byte, so the fallbacks are exercised.
WIDE_ALPHABET = "ABO0S5Z2X\x00\xe9\u0100\u4e2d"
keys = st.text(WIDE_ALPHABET, max_size=MAX_FUZZY_LENGTH + 2)
plates = st.text(WIDE_ALPHABET, min_size=2, max_size=9)


@given(key_list=st.lists(keys, min_size=1, max_size=8))
def test_a_packed_key_under_each_tag_is_its_variant_packed(key_list: list[str]) -> None:
    packed = pack_keys(key_list)
    for row, key in enumerate(key_list):
        packable = len(key) <= MAX_FUZZY_LENGTH and all(ord(c) < 256 for c in key)
        assert (packed.lengths[row] >= 0) == packable
        if not packable:
            continue
        for tag, variant in enumerate(variants(key)):
            low, high, length = under_tags(packed, np.array([row]), np.array([tag]))
            expected = pack_keys([variant])
            assert (low[0], high[0], length[0]) == (
                expected.low[0],
                expected.high[0],
                expected.lengths[0],
            )


@given(key=keys)
def test_the_variant_hashes_of_a_key_are_those_of_its_variants(key: str) -> None:
    assert variant_hashes(key) == [string_hash(variant) for variant in variants(key)]


@given(key_list=st.lists(st.one_of(keys, st.text(max_size=MAX_FUZZY_LENGTH)), max_size=8))
def test_the_vectorised_hash_is_the_scalar_one(key_list: list[str]) -> None:
    packed = pack_keys(key_list)
    rows = np.flatnonzero(packed.lengths >= 0)
    hashes = packed_hashes(packed.low[rows], packed.high[rows], packed.lengths[rows])
    assert hashes.tolist() == [string_hash(key_list[row]) for row in rows.tolist()]
    assert all(string_hash(key) != 0 for key in key_list)  # 0 marks an empty cell


@given(
    reads=st.lists(plates, min_size=1, max_size=10),
    listed=st.lists(plates, min_size=1, max_size=25),
    retracted=st.sets(st.integers(0, 24), max_size=5),
)
@settings(max_examples=200)
def test_batch_lookups_match_single_ones_for_any_characters_and_retractions(
    reads: list[str], listed: list[str], retracted: set[int]
) -> None:
    index = HotlistIndex(an_entry(entry_id=f"e{i}", plate=p) for i, p in enumerate(listed))
    for i in retracted:  # hidden at once, still in the compacted table
        index.retract(f"e{i}")
    # Reads one edit from entries too, where random reads would rarely land.
    queries = reads + [p[:-1] + "X" for p in listed[:5]] + [p + "\u0100" for p in listed[:3]]
    for plate, matches in zip(queries, index.lookup_many(queries), strict=True):
        single = index.lookup(plate)
        assert sorted((m.entry.entry_id, m.kind) for m in matches) == sorted(
            (m.entry.entry_id, m.kind) for m in single
        )
        # Closest kind first, each entry once.
        assert [m.kind for m in matches] == [m.kind for m in single]
        assert len({m.entry.entry_id for m in matches}) == len(matches)


def test_entries_changed_while_batches_are_looked_up_are_never_missed() -> None:
    """A reload re-publishes changed entries (a new priority) while the match stage looks
    reads up in batches on another thread: every live entry is found every time."""
    import threading

    from pipelines.matching.index import HotlistIndex
    from tests.factories import an_entry

    plates = [f"RC{i:05d}" for i in range(2000)]
    index = HotlistIndex([an_entry(entry_id=f"l:{p}", plate=p, priority=0) for p in plates])
    stop = threading.Event()

    def republish() -> None:
        priority = 0
        while not stop.is_set():
            priority += 1
            for plate in plates:
                index.put(an_entry(entry_id=f"l:{plate}", plate=plate, priority=priority))

    writer = threading.Thread(target=republish)
    writer.start()
    missed = looked_up = 0
    try:
        for round_ in range(40):
            batch = plates[(round_ * 150) % 1850 :][:150]
            for plate, matches in zip(batch, index.lookup_many(batch), strict=True):
                looked_up += 1
                missed += not any(m.entry.plate == plate for m in matches)
    finally:
        stop.set()
        writer.join()
    assert looked_up == 6000
    assert missed == 0
