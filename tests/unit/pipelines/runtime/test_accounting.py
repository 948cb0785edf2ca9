"""No event leaves an agent unaccounted for: each stage gets a good record, bytes that do
not decode, and a record on which a failure is injected inside the stage's own function;
every input is then found stored, forwarded, counted (refused by law, no hit, a
duplicate, suppressed) or dead-lettered with its offset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from connectors.cassandra import RowOutcome
from connectors.kafka.transactions import Received
from pipelines.runtime import passes
from pipelines.runtime.match import Match
from pipelines.runtime.normalize import Dedup
from pipelines.runtime.passes import PassBook
from pipelines.runtime.share import ShareHandler
from pipelines.runtime.store import reads_sink
from pipelines.stages import dedup, match, normalize, share
from pipelines.stages.dedup import DedupPolicy
from schemas.records import DeadLetter, Hit, PlateRead, utcnow
from tests.factories import a_hit, an_agreement, an_entry
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    Counts,
    FakeStore,
    RecordingOutbox,
    context,
    event,
    fresh_read,
    run,
)

T = TypeVar("T")


class Injected(RuntimeError):
    """The failure injected into a stage function."""


def failing_for(plate: str, real: Callable[..., T]) -> Callable[..., T]:
    """``real``, raising ``Injected`` when its first record argument has ``plate``."""

    def wrapped(*args: Any, **kwargs: Any) -> T:
        for arg in args:
            reads = arg if isinstance(arg, list | tuple) else [arg]
            if any(getattr(getattr(r, "read", r), "plate", None) == plate for r in reads):
                raise Injected(f"injected into {real.__name__}")
        return real(*args, **kwargs)

    return wrapped


def lettered(out: RecordingOutbox) -> dict[int, str]:
    """Source offset -> stage of each dead letter."""
    return {d.source_offset or -1: d.stage for d in out.letters()}


def test_normalize_and_dedup_account_for_every_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "pipelines.runtime.normalize.normalize.normalize_read",
        failing_for("NRMBUG1", normalize.normalize_read),
    )
    monkeypatch.setattr(passes.dedup, "fold_read", failing_for("FLDBUG1", dedup.fold_read))
    ctx, out = context(dedup_settle_seconds=0.0)
    agents = Dedup(ctx, PassBook({}, ctx.codec, DedupPolicy.from_settings(ctx.settings), {}))
    counts = {stage: Counts(stage) for stage in ("normalize", "dedup")}
    good, repeat = fresh_read(plate="GUD1234"), fresh_read(plate="GUD1234")
    expired = fresh_read(plate="OLD1234", collected_at=utcnow() - timedelta(days=90))
    inputs = [good.encode(CODEC), b"not a read", fresh_read(plate="NRMBUG1").encode(CODEC),
              expired.encode(CODEC), fresh_read(plate="FLDBUG1").encode(CODEC),
              repeat.encode(CODEC)]  # fmt: skip

    async def feed() -> None:
        for offset, value in enumerate(inputs):
            await agents.on_read(event(value, offset=offset))

    run(feed())
    matched = [PlateRead.decode(CODEC, s.value).plate for s in out.to("reads.normalized")]
    stored = [PlateRead.decode(CODEC, s.value).read_id for s in out.to("reads")]
    assert matched == ["GUD1234", "FLDBUG1", "GUD1234"]  # the fold failed after matching
    assert stored == [good.read_id]  # the repeat folded into its pass: counted
    assert lettered(out) == {1: "normalize", 2: "normalize", 4: "dedup"}
    assert counts["normalize"]["expired"] == 1  # by law: kept nowhere, not even a letter
    assert counts["dedup"]["duplicate"] == 1
    # Six reads in: 3 forwarded to matching (one of them also a dedup letter), 2 letters
    # at normalize, 1 refused by law.
    assert len(matched) + 2 + 1 == len(inputs)


def test_match_accounts_for_every_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(match, "match_read", failing_for("MTCBUG1", match.match_read))
    monkeypatch.setattr(match, "match_reads", failing_for("MTCBUG1", match.match_reads))
    ctx, out = context()
    ctx.hotlist.put(an_entry(plate="HOT1234"))
    counts = Counts("match")
    hot = fresh_read(plate="HOT1234")
    inputs = [hot.encode(CODEC), b"not a read", fresh_read(plate="MTCBUG1").encode(CODEC),
              fresh_read(plate="CLN9999").encode(CODEC)]  # fmt: skip
    run(Match(ctx).on_batch([event(v, offset=i) for i, v in enumerate(inputs)]))
    hits = [Hit.decode(CODEC, s.value).read.read_id for s in out.to("hits")]
    assert hits == [hot.read_id]
    assert lettered(out) == {1: "match", 2: "match"}
    assert counts["no_hit"] == 1
    assert len(hits) + 2 + counts["no_hit"] == len(inputs)


def test_share_accounts_for_every_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(share, "deliveries", failing_for("SHRBUG1", share.deliveries))
    ctx, _out = context()
    ctx.agreements.put(an_agreement())
    counts = Counts("share")
    now = utcnow()
    first = a_hit(read=fresh_read(plate="SHR1234", collected_at=now))
    repeat = a_hit(read=fresh_read(plate="SHR1234", collected_at=now + timedelta(seconds=5)))
    inputs = [first.encode(CODEC), b"not a hit",
              a_hit(read=fresh_read(plate="SHRBUG1")).encode(CODEC), repeat.encode(CODEC)]  # fmt: skip
    handler = ShareHandler(ctx, lambda _spec: None)
    # One batch, as the transactional loop hands it over; committed, so counted.
    batch = [
        Received("unit.hits", 0, offset, b"SHR1234", value) for offset, value in enumerate(inputs)
    ]
    work = handler.process(batch)
    for effect in work.on_commit:
        effect()
    delivered = {Hit.decode(CODEC, r.value).hit_id for r in work.records if ".hits." in r.topic}
    assert delivered == {first.hit_id}
    letters = [
        DeadLetter.decode(CODEC, r.value) for r in work.records if r.topic == "unit.deadletter"
    ]
    assert {d.source_offset: d.stage for d in letters} == {1: "share", 2: "share"}
    assert (counts["ok"], counts["suppressed"]) == (1, 1)
    assert counts["ok"] + 2 + counts["suppressed"] == len(inputs)


def test_the_store_accounts_for_every_read_even_when_its_write_breaks() -> None:
    store = FakeStore()
    ctx, out = context(store)
    counts = Counts("store")
    reads = [fresh_read(), fresh_read(), fresh_read()]
    store.outcomes = [RowOutcome(True), RowOutcome(False, "InvalidRequest: refused"),
                      RowOutcome(False, "too old", expired=True)]  # fmt: skip
    batch = [event(r.encode(CODEC), offset=i) for i, r in enumerate(reads)]
    run(reads_sink(ctx).on_batch([*batch, event(b"not a read", offset=3)]))
    assert lettered(out) == {3: "store", 1: "store"}
    assert (counts["ok"], counts["expired"]) == (1, 1)

    # A bug in the write itself: each record of the batch gets its letter.
    def broken(*_args: Any) -> list[RowOutcome]:
        raise Injected("injected into write_reads")

    store.write_reads = broken  # type: ignore[method-assign]
    again = [event(r.encode(CODEC), offset=10 + i) for i, r in enumerate(reads)]
    run(reads_sink(ctx).on_batch(again))
    assert {o for o in lettered(out) if o >= 10} == {10, 11, 12}
