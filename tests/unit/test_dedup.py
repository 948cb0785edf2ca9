"""Dedup: one read per vehicle pass, the best by score, state that survives JSON."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.stages.dedup import (
    RECENT_READ_IDS,
    CameraPasses,
    Deduplicator,
    DedupPolicy,
    ScoreWeights,
    fold_read,
    forget,
    from_json,
    is_idle,
    read_score,
    settle,
    split_table_key,
    table_key,
    to_json,
)
from schemas import SingleObjectCodec
from schemas.plates import confusable_key
from schemas.records import PlateCandidate, PlateRead
from tests.factories import NOW, a_read

CODEC = SingleObjectCodec()
MINUTE = DedupPolicy(window=timedelta(seconds=60))
HELD = DedupPolicy(window=timedelta(seconds=60), settle_seconds=2.0)


def at(seconds: float, **overrides: object) -> PlateRead:
    return a_read(collected_at=NOW + timedelta(seconds=seconds), **overrides)


class TestPasses:
    """With no settle time (the first read of a pass is sent at once)."""

    def test_same_plate_same_camera_within_window_is_a_duplicate(self) -> None:
        dedup = Deduplicator(MINUTE)
        assert not dedup.is_duplicate(at(0))
        assert dedup.is_duplicate(at(30))

    def test_other_camera_or_plate_is_not(self) -> None:
        dedup = Deduplicator(MINUTE)
        assert not dedup.is_duplicate(a_read())
        assert not dedup.is_duplicate(a_read(camera_id="cam-2"))
        assert not dedup.is_duplicate(a_read(plate="XYZ999"))

    def test_after_the_window_it_is_a_new_pass(self) -> None:
        dedup = Deduplicator(MINUTE)
        assert not dedup.is_duplicate(at(0))
        assert not dedup.is_duplicate(at(61))

    def test_late_read_within_window_is_still_a_duplicate(self) -> None:
        dedup = Deduplicator(MINUTE)
        assert not dedup.is_duplicate(at(0))
        assert dedup.is_duplicate(at(-20))

    def test_a_one_character_misread_is_the_same_pass(self) -> None:
        dedup = Deduplicator(MINUTE)
        assert not dedup.is_duplicate(at(0, plate="ABC1234"))
        assert dedup.is_duplicate(at(1, plate="A8C1234"))
        assert dedup.is_duplicate(at(2, plate="ABC1284"))
        assert not dedup.is_duplicate(at(3, plate="XBC1284"))

    def test_short_plates_must_match_exactly(self) -> None:
        dedup = Deduplicator(MINUTE)
        assert not dedup.is_duplicate(at(0, plate="AB12"))
        assert not dedup.is_duplicate(at(0, plate="AB13"))

    def test_a_read_older_than_the_window_is_its_own_pass(self) -> None:
        dedup = Deduplicator(HELD)
        dedup.add(at(61), now=0)
        late = at(0)
        folded = dedup.add(late, now=0)
        assert folded.sent == [late]
        assert [r.collected_at for r in dedup.settle(now=5)] == [at(61).collected_at]

    def test_a_read_delivered_again_is_not_counted_again(self) -> None:
        dedup = Deduplicator(HELD)
        first, second = at(0), at(1)
        for read in (first, second, second, first):
            dedup.add(read, now=0)
        assert dedup.add(second, now=0).redelivered
        (sent,) = dedup.settle(now=5)
        assert sent.duplicates == 1
        assert dedup.add(first, now=6).sent == []

    def test_cameras_of_one_site_share_their_passes(self) -> None:
        dedup = Deduplicator(MINUTE, sites={"gate-east": "gate", "gate-west": "gate"})
        assert not dedup.is_duplicate(at(0, camera_id="gate-east"))
        assert dedup.is_duplicate(at(1, camera_id="gate-west"))
        assert not dedup.is_duplicate(at(1, camera_id="downtown"))

    def test_memory_is_bounded_by_the_window(self) -> None:
        dedup = Deduplicator(DedupPolicy(window=timedelta(seconds=10)))
        for i in range(1000):
            dedup.is_duplicate(at(i, plate=f"P{i}"))
        assert len(dedup) <= 11
        for _ in range(100):
            dedup.is_duplicate(at(1000, plate="SAME123"))
        passes = [p for c in dedup.cameras.values() for p in c.passes.values()]
        assert all(len(p.recent_ids) <= RECENT_READ_IDS for p in passes)

    def test_the_first_read_is_sent_at_once(self) -> None:
        dedup = Deduplicator(MINUTE)
        first = at(0)
        assert dedup.add(first, now=0).sent == [first]
        assert dedup.add(at(1, confidence=99.0), now=0).sent == []


class TestBestRead:
    """With a settle time: a pass is held, then its best read is sent."""

    def test_the_best_read_of_the_settle_time_is_sent_with_the_others_counted(self) -> None:
        dedup = Deduplicator(HELD)
        reads = [at(0, confidence=80.0), at(0.5, confidence=95.0), at(1, confidence=90.0)]
        assert [dedup.add(r, now=i * 0.5).sent for i, r in enumerate(reads)] == [[], [], []]
        assert dedup.settle(now=1.9) == []
        (sent,) = dedup.settle(now=2.0)
        assert sent.read_id == reads[1].read_id
        assert sent.duplicates == 2

    def test_reads_after_the_pass_was_sent_are_counted_not_sent(self) -> None:
        dedup = Deduplicator(HELD)
        dedup.add(at(0), now=0)
        assert len(dedup.settle(now=2)) == 1
        folded = dedup.add(at(5, confidence=99.0), now=5)
        assert folded.duplicate
        assert folded.sent == []
        assert dedup.settle(now=100) == []

    def test_a_read_of_another_camera_does_not_close_the_pass(self) -> None:
        dedup = Deduplicator(HELD)
        dedup.add(at(0), now=0)
        assert dedup.add(at(0, camera_id="cam-2"), now=0.1).sent == []
        assert len(dedup.settle(now=2.1)) == 2

    def test_a_held_pass_the_window_leaves_behind_is_sent_not_lost(self) -> None:
        dedup = Deduplicator(DedupPolicy(window=timedelta(seconds=10), settle_seconds=60))
        first = at(0, plate="OLD1234")
        dedup.add(first, now=0)
        folded = dedup.add(at(30, plate="NEW9876"), now=1)
        assert [r.read_id for r in folded.sent] == [first.read_id]

    def test_a_plate_that_fits_its_state_outweighs_a_little_confidence(self) -> None:
        weights = ScoreWeights()
        fits = at(0, confidence=85.0, candidates=(PlateCandidate("ABC123", 85.0, True),))
        odd = at(0, confidence=90.0, candidates=(PlateCandidate("ABC123", 90.0, False),))
        assert read_score(fits, weights) > read_score(odd, weights)
        dedup = Deduplicator(HELD)
        dedup.add(odd, now=0)
        dedup.add(fits, now=0.1)
        assert [r.read_id for r in dedup.settle(now=5)] == [fits.read_id]

    def test_equal_scores_keep_the_first_read(self) -> None:
        dedup = Deduplicator(HELD)
        first, second = at(0), at(1)
        dedup.add(first, now=0)
        dedup.add(second, now=0)
        assert [r.read_id for r in dedup.settle(now=5)] == [first.read_id]


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
        dedup = Deduplicator(MINUTE)
        assert not dedup.add(at(0, plate="AAA1111"), 0.0).duplicate
        dedup.forget_idle(1000.0)
        assert len(dedup.cameras) == 0
        # Two windows later a camera sending in real time sees a new pass anyway.
        assert not dedup.add(at(1000, plate="AAA1111"), 1000.0).duplicate


# One camera's reads: plates from a small alphabet so passes collide, out-of-order times.
plates = st.text(alphabet="AB8O0", min_size=5, max_size=6)
camera_reads = st.lists(
    st.tuples(plates, st.floats(0, 300), st.floats(0, 100).map(lambda c: round(c, 1))),
    max_size=30,
)


@given(camera_reads, st.sampled_from([0.0, 2.0, 1000.0]))
@settings(max_examples=200, deadline=None)
def test_every_pass_sends_exactly_one_read_the_best_it_had(
    reads: list[tuple[str, float, float]], settle_seconds: float
) -> None:
    policy = DedupPolicy(window=timedelta(seconds=60), settle_seconds=settle_seconds)
    dedup = Deduplicator(policy)
    sent: list[PlateRead] = []
    new_passes = 0
    for i, (plate, seconds, confidence) in enumerate(reads):
        folded = dedup.add(at(seconds, plate=plate, confidence=confidence), now=float(i))
        new_passes += not folded.duplicate
        sent += folded.sent
    sent += dedup.settle(now=float(len(reads)) + settle_seconds)
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
    dedup = Deduplicator(DedupPolicy(window=timedelta(seconds=60), settle_seconds=10))
    candidates = (PlateCandidate("ABC1234", 50.0, fits_format),)
    added = [at(s, plate="ABC1234", confidence=c, candidates=candidates) for s, c in reads]
    assert all(dedup.add(read, now=0).sent == [] for read in added)
    (sent,) = dedup.settle(now=10)
    best = max(added, key=lambda r: r.confidence)  # max keeps the first of equals
    assert sent.read_id == best.read_id
    assert sent.duplicates == len(added) - 1
