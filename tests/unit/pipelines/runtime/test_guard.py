"""The guard every agent runs its records through: each kind of failure becomes data
(a dead letter, an ``expired`` count, a retry), and no exception ever escapes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from pipelines.runtime.guard import Guard, Origin
from schemas import DecodeError
from schemas.errors import ConfigurationError, InvalidRecord, StoreUnavailable
from schemas.records import PlateRead, utcnow
from schemas.retention import RetentionExpired
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    Counts,
    FakeStore,
    context,
    event,
    fresh_read,
    run,
)

T = TypeVar("T")


def raising(error: BaseException) -> Callable[[], Any]:
    def fail() -> Any:
        raise error

    return fail


def guarded(stage: str = "unit-stage", **values: Any) -> tuple[Guard, Any, FakeStore]:
    store = FakeStore()
    ctx, out = context(store, **values)
    return Guard(ctx, stage), out, store


class TestStep:
    def test_a_decode_error_is_a_dead_letter_with_the_original_bytes(self) -> None:
        guard, out, _ = guarded()
        counts = Counts("unit-stage")
        bad = event(b"\xc3\x01garbage", key=b"cam-9", partition=2, offset=41,
                    headers=[("source", b"camera")])  # fmt: skip
        decode = lambda: PlateRead.decode(CODEC, bad.message.value)  # noqa: E731
        assert run(guard.step(bad, decode)) is None
        (letter,) = out.letters()
        assert letter.stage == "unit-stage"
        assert letter.error_type == "DecodeError"
        assert letter.original_value == b"\xc3\x01garbage"
        assert letter.original_key == b"cam-9"
        assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
            "unit.reads", 2, 41,
        )  # fmt: skip
        assert letter.original_headers == {"source": b"camera"}
        assert letter.worker.startswith("unit-worker@")
        (sent,) = out.to("deadletter")
        assert sent.key == b"cam-9"  # schemas.keys.dead_letter_key: the original key
        assert counts["dead_letter"] == 1

    def test_an_overflow_error_from_a_decode_is_dead_lettered_not_raised(self) -> None:
        guard, out, _ = guarded()
        overflow = raising(OverflowError("date value out of range"))
        assert run(guard.step(event(b"x"), overflow)) is None
        (letter,) = out.letters()
        assert (letter.error_type, letter.reason) == ("OverflowError", "date value out of range")

    def test_a_record_that_breaks_a_rule_is_dead_lettered(self) -> None:
        guard, out, _ = guarded()
        assert run(guard.step(event(b"x"), raising(InvalidRecord("empty plate")))) is None
        assert [letter.reason for letter in out.letters()] == ["empty plate"]

    def test_a_read_past_retention_is_counted_expired_and_kept_nowhere(self) -> None:
        guard, out, _ = guarded()
        counts = Counts("unit-stage")
        assert run(guard.step(event(b"x"), raising(RetentionExpired("too old")))) is None
        assert out.sent == []
        assert (counts["expired"], counts["dead_letter"]) == (1, 0)

    def test_a_bug_is_logged_and_dead_lettered(self, caplog: pytest.LogCaptureFixture) -> None:
        guard, out, _ = guarded()
        assert run(guard.step(event(b"x"), raising(KeyError("oops")))) is None
        assert [letter.error_type for letter in out.letters()] == ["KeyError"]
        assert "unexpected error" in caplog.text

    def test_a_good_record_is_returned(self) -> None:
        guard, out, _ = guarded()
        read = fresh_read()
        value = read.encode(CODEC)
        assert run(guard.step(event(value), lambda: PlateRead.decode(CODEC, value))) == read
        assert out.sent == []


class TestRun:
    def test_a_store_outage_holds_the_record_and_retries(self) -> None:
        guard, out, store = guarded()
        counts = Counts("unit-stage")
        store.unavailable = 3

        async def work() -> str:
            await guard.store(lambda s: s.forget_entry_check("e-1"))
            return "done"

        assert run(guard.run(event(b"x"), work)) == "done"
        assert store.names() == ["forget_entry_check"]
        assert (counts["retry"], counts["dead_letter"]) == (3, 0)
        assert out.sent == []

    def test_an_outage_reaching_run_runs_the_work_again(self) -> None:
        guard, out, _ = guarded()
        counts = Counts("unit-stage")
        tries: list[int] = []

        async def work() -> int:
            tries.append(1)
            if len(tries) < 3:
                raise StoreUnavailable("down")
            return len(tries)

        assert run(guard.run(event(b"x"), work)) == 3
        assert counts["retry"] == 2
        assert out.sent == []

    def test_cassandra_not_there_at_first_is_an_outage_too(self) -> None:
        store = FakeStore()
        attempts: list[int] = []

        def connect() -> FakeStore:
            attempts.append(1)
            if len(attempts) < 3:
                raise ConfigurationError("Cassandra did not answer")
            return store

        ctx, _ = context(store_factory=connect)
        guard = Guard(ctx, "unit-stage")
        counts = Counts("unit-stage")
        run(guard.run(event(b"x"), lambda: guard.store(lambda s: s.forget_entry_check("e"))))
        assert (len(attempts), counts["retry"], store.names()) == (3, 2, ["forget_entry_check"])

    @pytest.mark.parametrize(
        "error",
        [DecodeError("bad"), InvalidRecord("bad"), OverflowError("bad"), RuntimeError("bad")],
    )
    def test_no_failure_escapes(self, error: Exception) -> None:
        guard, out, _ = guarded()

        async def work() -> None:
            raise error

        assert run(guard.run(event(b"orig"), work)) is None
        (letter,) = out.letters()
        assert (letter.error_type, letter.original_value) == (type(error).__name__, b"orig")

    def test_cancellation_is_not_swallowed(self) -> None:
        guard, out, _ = guarded()

        async def work() -> None:
            raise asyncio.CancelledError

        with pytest.raises(asyncio.CancelledError):
            run(guard.run(event(b"x"), work))
        assert out.sent == []

    def test_a_failed_batch_dead_letters_each_of_its_records(self) -> None:
        guard, out, _ = guarded()
        events = [event(b"a", offset=1), event(b"b", offset=2)]

        async def work() -> None:
            raise RuntimeError("batch broke")

        assert run(guard.run_batch(events, work)) is None
        assert [letter.source_offset for letter in out.letters()] == [1, 2]

    def test_a_record_the_worker_made_is_dead_lettered_as_itself(self) -> None:
        guard, out, _ = guarded()
        read = fresh_read()

        def origin() -> Origin:
            return Origin(topic="unit.reads.raw", key=b"cam-1", value=read.encode(CODEC))

        async def work() -> None:
            raise RuntimeError("send failed")

        run(guard.run(origin, work))
        (letter,) = out.letters()
        assert letter.source_topic == "unit.reads.raw"
        assert letter.original_value is not None
        assert PlateRead.decode(CODEC, letter.original_value) == read


class TestDeadLetters:
    def test_a_letter_that_cannot_be_sent_goes_without_its_value(self) -> None:
        guard, out, _ = guarded()
        out.failures = [ValueError("message too large")]
        run(guard.dead_letter(event(b"x" * 100), InvalidRecord("bad image")))
        (letter,) = out.letters()
        assert letter.original_value is None
        assert letter.reason.startswith("bad image (original value dropped: ValueError")

    def test_a_letter_that_cannot_be_sent_at_all_is_counted_not_raised(self) -> None:
        guard, out, _ = guarded()
        counts = Counts("unit-stage")
        out.failures = [ValueError("kafka gone"), ValueError("kafka gone")]
        run(guard.dead_letter(event(b"x"), InvalidRecord("bad")))
        assert out.sent == []
        assert (counts["dead_letter"], counts["dead_letter_failed"]) == (1, 1)


def test_retrying_times_each_attempt_and_counts_each_retry() -> None:
    guard, _, store = guarded("unit-timed")
    counts = Counts("unit-timed")
    store.unavailable = 1
    run(guard.retrying(lambda: guard.ctx.run_blocking(lambda: store.forget_entry_check("e"))))
    assert counts["retry"] == 1
    assert store.names() == ["forget_entry_check"]


def test_a_read_collected_long_ago_is_expired_by_the_normalize_guard() -> None:
    from pipelines.stages import normalize

    guard, out, _ = guarded("unit-normalize")
    counts = Counts("unit-normalize")
    old = fresh_read(collected_at=utcnow() - timedelta(days=4000))
    step = lambda: normalize.normalize_read(old, 90, utcnow())  # noqa: E731
    assert run(guard.step(event(old.encode(CODEC)), step)) is None
    assert (counts["expired"], out.sent) == (1, [])
