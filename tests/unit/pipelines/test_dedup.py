"""Dedup: one read per vehicle pass, the best by score, state that survives JSON.

The passes are driven through the worker's own dedup path (``runtime.passes.PassBook``,
a dict standing in for its Faust table) the way its agents drive it: the ``normalize``
agent folds a read and commits the changes once the reads it sent are sent; the settle
timer asks for the cameras due, and the ``dedup-ticks`` agent settles each of them.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.runtime.passes import PassBook, from_json, split_table_key, table_key, to_json
from pipelines.runtime.wiring import JsonValues
from pipelines.settings import Settings
from pipelines.stages.dedup import (
    RECENT_READ_IDS,
    CameraPasses,
    DedupPolicy,
    Folded,
    ScoreWeights,
    VehiclePass,
    fold_read,
    forget,
    is_idle,
    read_score,
    settle,
)
from schemas import SingleObjectCodec
from schemas.plates import confusable_key
from schemas.records import PlateCandidate, PlateRead
from tests.factories import NOW, a_read

CODEC = SingleObjectCodec()


def policy(window: float, settle_seconds: float = 0.0, **other: Any) -> DedupPolicy:
    """The policy a worker with these settings folds by."""
    return DedupPolicy.from_settings(
        Settings(dedup_window_seconds=window, dedup_settle_seconds=settle_seconds, **other)
    )


MINUTE = policy(60)
HELD = policy(60, settle_seconds=2.0)


def at(seconds: float, **overrides: object) -> PlateRead:
    return a_read(collected_at=NOW + timedelta(seconds=seconds), **overrides)


def passes(
    dedup_policy: DedupPolicy,
    sites: Mapping[str, str] | None = None,
    table: MutableMapping[str, Any] | None = None,
) -> PassBook:
    return PassBook({} if table is None else table, CODEC, dedup_policy, sites or {})


def add(book: PassBook, read: PlateRead, now: float = 0.0) -> Folded:
    """A raw read at worker time ``now``, as the normalize agent handles it."""
    group, folded = book.fold(read, 0, now)
    book.commit(group)
    return folded


def is_duplicate(book: PassBook, read: PlateRead, now: float = 0.0) -> bool:
    return add(book, read, now).duplicate


def settle_due(book: PassBook, now: float) -> list[PlateRead]:
    """The settle timer's ticks at worker time ``now``, as dedup-ticks handles them."""
    sent: list[PlateRead] = []
    for camera_id, partition in book.take_due(now):
        settled = book.settle(camera_id, partition, now)
        if settled is not None:
            sent += settled.sent
            book.commit(camera_id, forget=settled.idle)
    return sent


class TestPasses:
    """With no settle time (the first read of a pass is sent at once)."""

    def test_same_plate_same_camera_within_window_is_a_duplicate(self) -> None:
        dedup = passes(MINUTE)
        assert not is_duplicate(dedup, at(0))
        assert is_duplicate(dedup, at(30))

    def test_other_camera_or_plate_is_not(self) -> None:
        dedup = passes(MINUTE)
        assert not is_duplicate(dedup, a_read())
        assert not is_duplicate(dedup, a_read(camera_id="cam-2"))
        assert not is_duplicate(dedup, a_read(plate="XYZ999"))

    def test_after_the_window_it_is_a_new_pass(self) -> None:
        dedup = passes(MINUTE)
        assert not is_duplicate(dedup, at(0))
        assert not is_duplicate(dedup, at(61))

    def test_late_read_within_window_is_still_a_duplicate(self) -> None:
        dedup = passes(MINUTE)
        assert not is_duplicate(dedup, at(0))
        assert is_duplicate(dedup, at(-20))

    def test_a_one_character_misread_is_the_same_pass(self) -> None:
        dedup = passes(MINUTE)
        assert not is_duplicate(dedup, at(0, plate="ABC1234"))
        assert is_duplicate(dedup, at(1, plate="A8C1234"))
        assert is_duplicate(dedup, at(2, plate="ABC1284"))
        assert not is_duplicate(dedup, at(3, plate="XBC1284"))

    def test_short_plates_must_match_exactly(self) -> None:
        dedup = passes(MINUTE)
        assert not is_duplicate(dedup, at(0, plate="AB12"))
        assert not is_duplicate(dedup, at(0, plate="AB13"))

    def test_a_read_older_than_the_window_is_its_own_pass(self) -> None:
        dedup = passes(HELD)
        add(dedup, at(61), now=0)
        late = at(0)
        folded = add(dedup, late, now=0)
        assert folded.sent == [late]
        assert [r.collected_at for r in settle_due(dedup, 5)] == [at(61).collected_at]

    def test_a_read_delivered_again_is_not_counted_again(self) -> None:
        dedup = passes(HELD)
        first, second = at(0), at(1)
        for read in (first, second, second, first):
            add(dedup, read, now=0)
        assert add(dedup, second, now=0).redelivered
        (sent,) = settle_due(dedup, 5)
        assert sent.duplicates == 1
        assert add(dedup, first, now=6).sent == []

    def test_cameras_of_one_site_share_their_passes(self) -> None:
        dedup = passes(MINUTE, sites={"gate-east": "gate", "gate-west": "gate"})
        assert not is_duplicate(dedup, at(0, camera_id="gate-east"))
        assert is_duplicate(dedup, at(1, camera_id="gate-west"))
        assert not is_duplicate(dedup, at(1, camera_id="downtown"))

    def test_memory_is_bounded_by_the_window(self) -> None:
        dedup = passes(policy(10))
        for i in range(1000):
            is_duplicate(dedup, at(i, plate=f"P{i}"))
        assert len(dedup) <= 11
        for _ in range(100):
            is_duplicate(dedup, at(1000, plate="SAME123"))
        remembered = [p for c in dedup.mirror.groups.values() for p in c.passes.values()]
        assert all(len(p.recent_ids) <= RECENT_READ_IDS for p in remembered)

    def test_the_first_read_is_sent_at_once(self) -> None:
        dedup = passes(MINUTE)
        first = at(0)
        assert add(dedup, first, now=0).sent == [first]
        assert add(dedup, at(1, confidence=99.0), now=0).sent == []


class TestBestRead:
    """With a settle time: a pass is held, then its best read is sent."""

    def test_the_best_read_of_the_settle_time_is_sent_with_the_others_counted(self) -> None:
        dedup = passes(HELD)
        reads = [at(0, confidence=80.0), at(0.5, confidence=95.0), at(1, confidence=90.0)]
        assert [add(dedup, r, now=i * 0.5).sent for i, r in enumerate(reads)] == [[], [], []]
        assert settle_due(dedup, 1.9) == []
        (sent,) = settle_due(dedup, 2.0)
        assert sent.read_id == reads[1].read_id
        assert sent.duplicates == 2

    def test_reads_after_the_pass_was_sent_are_counted_not_sent(self) -> None:
        dedup = passes(HELD)
        add(dedup, at(0), now=0)
        assert len(settle_due(dedup, 2)) == 1
        folded = add(dedup, at(5, confidence=99.0), now=5)
        assert folded.duplicate
        assert folded.sent == []
        assert settle_due(dedup, 100) == []

    def test_a_read_of_another_camera_does_not_close_the_pass(self) -> None:
        dedup = passes(HELD)
        add(dedup, at(0), now=0)
        assert add(dedup, at(0, camera_id="cam-2"), now=0.1).sent == []
        assert len(settle_due(dedup, 2.1)) == 2

    def test_a_held_pass_the_window_leaves_behind_is_sent_not_lost(self) -> None:
        dedup = passes(policy(10, settle_seconds=60))
        first = at(0, plate="OLD1234")
        add(dedup, first, now=0)
        folded = add(dedup, at(30, plate="NEW9876"), now=1)
        assert [r.read_id for r in folded.sent] == [first.read_id]

    def test_a_plate_that_fits_its_state_outweighs_a_little_confidence(self) -> None:
        weights = ScoreWeights()
        fits = at(0, confidence=85.0, candidates=(PlateCandidate("ABC123", 85.0, True),))
        odd = at(0, confidence=90.0, candidates=(PlateCandidate("ABC123", 90.0, False),))
        assert read_score(fits, weights) > read_score(odd, weights)
        dedup = passes(HELD)
        add(dedup, odd, now=0)
        add(dedup, fits, now=0.1)
        assert [r.read_id for r in settle_due(dedup, 5)] == [fits.read_id]

    def test_equal_scores_keep_the_first_read(self) -> None:
        dedup = passes(HELD)
        first, second = at(0), at(1)
        add(dedup, first, now=0)
        add(dedup, second, now=0)
        assert [r.read_id for r in settle_due(dedup, 5)] == [first.read_id]


class TestTableValue:
    def test_round_trip_keeps_a_held_read(self) -> None:
        camera = CameraPasses(partition=2)
        read = at(0, confidence=77.0)
        fold_read(camera, read, 100.0, HELD)
        (key,) = camera.passes
        partition, restored = from_json(to_json(camera.passes[key], 2, CODEC), CODEC)
        assert (partition, restored) == (2, camera.passes[key])
        assert restored.held == read

    def test_each_read_writes_only_its_own_pass(self) -> None:
        camera = CameraPasses()
        fold_read(camera, at(0, plate="AAA1111"), 10.0, HELD)
        fold_read(camera, at(0, plate="ZZZ9999"), 10.0, HELD)
        camera.take_changes()
        fold_read(camera, at(1, plate="AAA1111"), 11.0, HELD)
        changed, removed = camera.take_changes()
        assert list(changed) == [confusable_key("AAA1111")]
        assert removed == set()

    def test_passes_the_window_leaves_are_deleted(self) -> None:
        camera = CameraPasses()
        fold_read(camera, at(0, plate="AAA1111"), 0.0, MINUTE)
        camera.take_changes()
        fold_read(camera, at(100, plate="ZZZ9999"), 1.0, MINUTE)
        changed, removed = camera.take_changes()
        assert list(changed) == [confusable_key("ZZZ9999")]
        assert removed == {confusable_key("AAA1111")}

    def test_table_keys_split_back_even_if_the_camera_id_has_a_slash(self) -> None:
        assert split_table_key(table_key("site/4/cam", "ABC123")) == ("site/4/cam", "ABC123")

    def test_next_due_is_the_earliest_held_pass(self) -> None:
        camera = CameraPasses()
        fold_read(camera, at(0, plate="AAA1111"), 10.0, HELD)
        fold_read(camera, at(0, plate="ZZZ9999"), 11.0, HELD)
        assert camera.next_due(HELD) == 12.0

    def test_with_nothing_held_the_camera_is_next_due_to_be_forgotten(self) -> None:
        camera = CameraPasses()
        fold_read(camera, at(0, plate="AAA1111"), 10.0, HELD)
        settle(camera, 12.0, HELD)
        fold_read(camera, at(5, plate="AAA1111"), 15.0, HELD)  # a repeat, not held
        assert HELD.forget_after_seconds == 122.0  # two windows and the settle time
        assert camera.next_due(HELD) == 15.0 + 122.0


class TestIdleCameras:
    """A camera out of service is forgotten: memory and table hold cameras in use."""

    def test_a_camera_quiet_for_two_windows_is_idle_and_forgotten(self) -> None:
        camera = CameraPasses()
        fold_read(camera, at(0, plate="AAA1111"), 100.0, MINUTE)
        fold_read(camera, at(1, plate="ZZZ9999"), 101.0, MINUTE)
        camera.take_changes()
        assert not is_idle(camera, 101.0 + 119.0, MINUTE)
        assert is_idle(camera, 101.0 + 120.0, MINUTE)
        forget(camera)
        assert len(camera) == 0
        changed, removed = camera.take_changes()
        assert changed == {}
        assert removed == {confusable_key("AAA1111"), confusable_key("ZZZ9999")}

    def test_a_camera_holding_a_pass_is_never_idle(self) -> None:
        camera = CameraPasses()
        fold_read(camera, at(0, plate="AAA1111"), 0.0, HELD)
        # Its worker was down: the pass must still be sent before the camera goes.
        assert not is_idle(camera, 10_000.0, HELD)
        assert [r.plate for r in settle(camera, 10_000.0, HELD)] == ["AAA1111"]
        assert is_idle(camera, 10_000.0, HELD)

    def test_a_forgotten_camera_starts_afresh(self) -> None:
        table: dict[str, Any] = {}
        dedup = passes(MINUTE, table=table)
        assert not add(dedup, at(0, plate="AAA1111"), 0.0).duplicate
        assert dedup.take_due(119.0) == []  # not quiet for two windows yet
        assert settle_due(dedup, 1000.0) == []
        assert len(dedup.mirror) == 0
        assert table == {}
        # Two windows later a camera sending in real time sees a new pass anyway.
        assert not add(dedup, at(1000, plate="AAA1111"), 1000.0).duplicate


class TestFuzzyMinimumLength:
    def test_dedup_uses_the_matching_setting(self) -> None:
        assert MINUTE.fuzzy_min_length == Settings().match_fuzzy_min_length == 5
        for min_length, one_pass in ((7, True), (8, False)):
            dedup = passes(policy(60, match_fuzzy_min_length=min_length))
            assert not is_duplicate(dedup, at(0, plate="ABC1234"))
            assert is_duplicate(dedup, at(1, plate="ABC1235")) is one_pass


class TestTheWorkersTable:
    """What a worker that takes over the partition (restarted, or after a rebalance)
    finds in the table: the passes as the last worker left them."""

    def test_a_new_worker_sends_a_held_pass_once_and_a_sent_one_never(self) -> None:
        table: dict[str, Any] = {}
        first = passes(HELD, table=table)
        add(first, at(0, plate="SNT1234"), now=0.0)
        assert [r.plate for r in settle_due(first, 2.0)] == ["SNT1234"]
        held = at(1, plate="HLD1234")
        add(first, held, now=3.0)

        second = passes(HELD, table=table)
        assert not second.mirror.loaded
        assert add(second, at(2, plate="SNT1234"), now=3.5).sent == []  # the same car
        assert [r.read_id for r in settle_due(second, 5.0)] == [held.read_id]
        assert settle_due(second, 10.0) == []

    def test_the_timer_waits_for_the_table_then_finds_the_camera_in_its_partition(
        self,
    ) -> None:
        table: dict[str, Any] = {}
        first = passes(HELD, table=table)
        first.fold(at(0), 2, 0.0)
        first.commit("cam-1")
        second = passes(HELD, table=table)
        assert second.take_due(5.0) == []  # until Faust has recovered the table
        second.mirror.reload()  # as the table's on_recover callback does
        assert second.take_due(5.0) == [("cam-1", 2)]
        assert second.settle("cam-1", 0, 5.0) is None  # a stale tick, from elsewhere
        settled = second.settle("cam-1", 2, 5.0)
        assert settled is not None and len(settled.sent) == 1

    def test_an_unreadable_entry_is_forgotten_and_the_others_kept(self) -> None:
        table: dict[str, Any] = {}
        first = passes(HELD, table=table)
        add(first, at(0, plate="AAA1111"), now=0.0)
        table[table_key("cam-1", "ZZZ9999")] = {"partition": 0, "held": "not base64 avro"}
        second = passes(HELD, table=table)
        second.mirror.reload()
        assert [r.plate for r in settle_due(second, 5.0)] == ["AAA1111"]
        assert len(second) == 1

    def test_an_entry_that_is_not_json_is_forgotten_and_the_others_kept(self) -> None:
        """The worker's table holds JSON bytes (``JsonValues``): bytes that do not decode
        lose that pass's memory only; the reload goes on and the others are sent."""
        table: dict[str, Any] = {}
        first = passes(HELD, table=JsonValues(table))
        add(first, at(0, plate="AAA1111"), now=0.0)
        table[table_key("cam-1", "ZZZ9999")] = b"\xff{not json"
        second = passes(HELD, table=JsonValues(table))
        second.mirror.reload()
        assert [r.plate for r in settle_due(second, 5.0)] == ["AAA1111"]
        assert len(second) == 1

    def test_a_tick_not_acted_on_is_asked_for_again(self) -> None:
        dedup = passes(HELD)
        add(dedup, at(0), now=0.0)
        assert dedup.take_due(1.0) == []
        assert dedup.take_due(2.0) == [("cam-1", 0)]
        assert dedup.take_due(3.0) == []  # the tick is on its way
        assert dedup.take_due(7.0) == [("cam-1", 0)]


# One camera's reads: plates from a small alphabet so passes collide, out-of-order times.
plates = st.text(alphabet="AB8O0", min_size=5, max_size=6)
camera_reads = st.lists(
    st.tuples(plates, st.floats(0, 300), st.floats(0, 100).map(lambda c: round(c, 1))),
    max_size=30,
)


SETTLE_POLICIES = {s: policy(60, settle_seconds=s) for s in (0.0, 2.0, 1000.0)}
TEN_SECONDS_HELD = policy(60, settle_seconds=10)


@given(camera_reads, st.sampled_from(sorted(SETTLE_POLICIES)))
@settings(max_examples=200, deadline=None)
def test_every_pass_sends_exactly_one_read_the_best_it_had(
    reads: list[tuple[str, float, float]], settle_seconds: float
) -> None:
    dedup = passes(SETTLE_POLICIES[settle_seconds])
    sent: list[PlateRead] = []
    new_passes = 0
    for i, (plate, seconds, confidence) in enumerate(reads):
        folded = add(dedup, at(seconds, plate=plate, confidence=confidence), now=float(i))
        new_passes += not folded.duplicate
        sent += folded.sent
    sent += settle_due(dedup, float(len(reads)) + settle_seconds)
    assert len(sent) == new_passes
    assert len({r.read_id for r in sent}) == len(sent)
    assert sum(1 + r.duplicates for r in sent) <= len(reads)


@given(
    st.lists(st.tuples(st.floats(0, 59), st.integers(0, 100).map(float)), min_size=1),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_one_vehicle_in_view_sends_its_best_read_once(
    reads: list[tuple[float, float]], fits_format: bool
) -> None:
    dedup = passes(TEN_SECONDS_HELD)
    candidates = (PlateCandidate("ABC1234", 50.0, fits_format),)
    added = [at(s, plate="ABC1234", confidence=c, candidates=candidates) for s, c in reads]
    assert all(add(dedup, read, now=0).sent == [] for read in added)
    (sent,) = settle_due(dedup, 10)
    best = max(added, key=lambda r: r.confidence)  # max keeps the first of equals
    assert sent.read_id == best.read_id
    assert sent.duplicates == len(added) - 1


@given(
    st.lists(
        st.tuples(st.booleans(), st.text(alphabet="AB12", min_size=1, max_size=4)),
        max_size=40,
    ),
    st.text(alphabet="AB12", min_size=1, max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_the_near_index_finds_what_a_scan_of_every_pass_finds(
    steps: list[tuple[bool, str]], asked: str
) -> None:
    """Passes added and dropped in any order (a small alphabet, so variants collide):
    the index names exactly the passes sharing a one-deletion variant with the key,
    in the passes' order, as comparing with every pass would."""
    camera = CameraPasses()
    camera.candidates(asked)  # built now, so the adds and drops below keep it current
    for adding, key in steps:
        if adding and key not in camera.passes:
            camera.add(key, VehiclePass(last_seen=0.0, opened=0.0))
        elif not adding and key in camera.passes:
            camera.drop(key)

    def variants(key: str) -> set[str]:
        return {key, *(key[:i] + key[i + 1 :] for i in range(len(key)))}

    scanned = [known for known in camera.passes if variants(known) & variants(asked)]
    assert camera.candidates(asked) == scanned
