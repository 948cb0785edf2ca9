"""Hotlist matching invariants, checked with Hypothesis against a brute-force reference."""

from __future__ import annotations

import fnmatch

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipelines.matching.index import COMPACT_AFTER, FUZZY_MIN_LENGTH, HotlistIndex
from pipelines.stages.match import match_read
from schemas.plates import confusable_key, within_one_edit
from schemas.records import MatchKind
from tests.factories import NOW, a_read, an_entry

ALPHABET = "ABCDGIOSZ0125689XY"  # rich in confusables, small enough to collide often
plates = st.text(ALPHABET, min_size=2, max_size=8)


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def entries(plate_list: list[str]) -> list:  # type: ignore[type-arg]
    return [an_entry(entry_id=f"e{i}", plate=p) for i, p in enumerate(plate_list)]


@given(plate=plates, others=st.lists(plates, max_size=20))
def test_an_exact_entry_always_matches_exactly(plate: str, others: list[str]) -> None:
    index = HotlistIndex(entries([*others, plate]))
    kinds = {m.kind for m in index.lookup(plate) if m.entry.plate == plate}
    assert kinds == {MatchKind.EXACT}


@given(read=plates, listed=st.lists(plates, min_size=1, max_size=30))
@settings(max_examples=300)
def test_index_finds_exactly_what_brute_force_finds(read: str, listed: list[str]) -> None:
    index = HotlistIndex(entries(listed))
    found = {m.entry.entry_id for m in index.lookup(read)}
    key = confusable_key(read)

    def matches(plate: str) -> bool:
        other = confusable_key(plate)
        if other == key:
            return True
        fuzzy = min(len(other), len(key)) >= FUZZY_MIN_LENGTH
        return fuzzy and levenshtein(other, key) <= 1

    expected = {f"e{i}" for i, p in enumerate(listed) if matches(p)}
    assert found == expected


@given(listed=st.lists(plates, min_size=1, max_size=30), edit=st.data())
@settings(max_examples=300)
def test_a_read_one_edit_from_an_entry_always_finds_it(
    listed: list[str], edit: st.DataObject
) -> None:
    # Reads made near entries (repeated characters included: the alphabet is small),
    # where random reads would rarely land. Edits are made on folded keys.
    target = edit.draw(st.sampled_from(listed))
    key = confusable_key(target)
    position = edit.draw(st.integers(0, len(key)))
    character = edit.draw(st.sampled_from(ALPHABET))
    kind = edit.draw(st.sampled_from(["substitute", "insert", "delete"]))
    if kind == "insert":
        read = key[:position] + character + key[position:]
    elif position == len(key):
        read = key
    elif kind == "substitute":
        read = key[:position] + character + key[position + 1 :]
    else:
        read = key[:position] + key[position + 1 :]
    assume(min(len(read), len(key)) >= FUZZY_MIN_LENGTH)
    incremental = HotlistIndex()
    for entry in entries(listed):
        incremental.put(entry)
    # Other entries the read lands near count too, if long enough to be matched fuzzily;
    # the read is folded as a lookup folds it (the edit may be a confusable character).
    folded = confusable_key(read)
    expected = {
        f"e{i}"
        for i, p in enumerate(listed)
        if confusable_key(p) == folded
        or (
            levenshtein(confusable_key(p), folded) <= 1
            and len(confusable_key(p)) >= FUZZY_MIN_LENGTH
        )
    }
    for index in (HotlistIndex(entries(listed)), incremental):
        assert {m.entry.entry_id for m in index.lookup(read)} == expected
        assert {m.entry.entry_id for m in index.lookup_many([read])[0]} == expected


@given(read=plates, listed=st.lists(plates, min_size=1, max_size=30))
def test_incremental_updates_match_a_fresh_build(read: str, listed: list[str]) -> None:
    incremental = HotlistIndex()
    for entry in entries(listed):
        incremental.put(entry)
    fresh = HotlistIndex(entries(listed))
    assert {m.entry.entry_id for m in incremental.lookup(read)} == {
        m.entry.entry_id for m in fresh.lookup(read)
    }


@given(plate=plates, edits=st.data())
def test_a_plate_two_edits_away_never_matches_at_distance_one(
    plate: str, edits: st.DataObject
) -> None:
    other = edits.draw(plates)
    assume(levenshtein(confusable_key(plate), confusable_key(other)) >= 2)
    assert HotlistIndex(entries([plate])).lookup(other) == []


@given(a=plates, b=plates)
def test_within_one_edit_is_levenshtein_at_most_one(a: str, b: str) -> None:
    assert within_one_edit(a, b) == (levenshtein(a, b) <= 1)


@given(pattern=st.text("AB1*?", min_size=1, max_size=6), plate=st.text("AB1", max_size=8))
def test_wildcards_mean_what_fnmatch_means(pattern: str, plate: str) -> None:
    assume(any(c in "*?" for c in pattern))
    index = HotlistIndex([an_entry(entry_id="w", plate=pattern)])
    matched = any(m.kind is MatchKind.WILDCARD for m in index.lookup(plate))
    assert matched == fnmatch.fnmatchcase(plate, pattern)


@given(priorities=st.lists(st.integers(0, 100), min_size=1, max_size=8))
def test_the_highest_priority_entry_wins_and_the_others_are_listed(priorities: list[int]) -> None:
    listed = [
        an_entry(entry_id=f"e{i}", plate="ABC123", priority=p) for i, p in enumerate(priorities)
    ]
    hit = match_read(a_read(plate="ABC123"), HotlistIndex(listed), NOW)
    assert hit is not None
    assert hit.entry.priority == max(priorities)
    assert len(hit.other_entry_ids) == len(priorities) - 1


def test_match_kinds_are_reported() -> None:
    index = HotlistIndex([an_entry(entry_id="x", plate="ABC123")])
    assert match_read(a_read(plate="ABC123"), index, NOW).match_kind is MatchKind.EXACT  # type: ignore[union-attr]
    assert match_read(a_read(plate="A8C123"), index, NOW).match_kind is MatchKind.CONFUSABLE  # type: ignore[union-attr]
    assert match_read(a_read(plate="ABC124"), index, NOW).match_kind is MatchKind.EDIT_DISTANCE  # type: ignore[union-attr]
    assert match_read(a_read(plate="ABC1234"), index, NOW).match_kind is MatchKind.EDIT_DISTANCE  # type: ignore[union-attr]
    assert match_read(a_read(plate="XBC12"), index, NOW) is None


def test_exact_only_when_distance_is_zero() -> None:
    index = HotlistIndex([an_entry(plate="ABC123")], max_distance=0)
    assert [m.kind for m in index.lookup("A8C123")] == [MatchKind.CONFUSABLE]
    assert index.lookup("ABC124") == []


def test_retraction_and_reload_of_unchanged_entries() -> None:
    index = HotlistIndex(
        [an_entry(entry_id="a", plate="ABC123"), an_entry(entry_id="b", plate="XYZ9")]
    )
    index.put(an_entry(entry_id="a", plate="ABC123"))  # unchanged: no churn
    index.retract("b")
    assert [m.entry.entry_id for m in index.lookup("ABC123")] == ["a"]
    assert index.lookup("XYZ9") == [] and len(index) == 1
    index.put(an_entry(entry_id="a", plate="QQQ111"))  # changed plate moves the entry
    assert index.lookup("ABC123") == [] and index.lookup("QQQ111")[0].entry.entry_id == "a"
    index.compact()
    assert index.lookup("QQQ111")[0].entry.entry_id == "a" and len(index.entries()) == 1


def test_many_puts_compact_on_their_own() -> None:
    index = HotlistIndex()
    for i in range(COMPACT_AFTER // 4):
        index.put(an_entry(entry_id=f"e{i}", plate=f"P{i:06d}"))
    assert index.lookup("P000123")[0].entry.entry_id == "e123"


def test_deferred_entries_match_exactly_at_once_and_fuzzily_after_compaction() -> None:
    index = HotlistIndex()
    index.put(an_entry(entry_id="a", plate="ABC123"), defer_fuzzy=True)
    assert [m.kind for m in index.lookup("ABC123")] == [MatchKind.EXACT]
    assert index.lookup("ABC124") == []
    index.compact()
    assert [m.kind for m in index.lookup("ABC124")] == [MatchKind.EDIT_DISTANCE]


@given(
    reads=st.lists(plates, min_size=1, max_size=12),
    built=st.lists(plates, max_size=20),
    added=st.lists(plates, max_size=10),
)
def test_a_batch_lookup_finds_what_single_lookups_find(
    reads: list[str], built: list[str], added: list[str]
) -> None:
    # Entries both in the compacted table and in the delta of later puts.
    index = HotlistIndex(entries(built))
    for i, plate in enumerate(added):
        index.put(an_entry(entry_id=f"added{i}", plate=plate))
    near = [p[:-1] + "X" for p in built[:3] if len(p) >= FUZZY_MIN_LENGTH]
    queries = reads + near
    batch = index.lookup_many(queries)
    assert len(batch) == len(queries)
    for plate, matches in zip(queries, batch, strict=True):
        assert {(m.entry.entry_id, m.kind) for m in matches} == {
            (m.entry.entry_id, m.kind) for m in index.lookup(plate)
        }
