"""Each agent of the runtime, driven directly: events in, what it sends and stores out.

The agents, guard, context and table mirrors are the worker's own; only Kafka (events,
a recording outbox) and Cassandra (``FakeStore``) are stood in for. The real-Kafka
tests (integration, e2e) prove the Faust wiring around them.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, TypeVar

import cv2
import numpy as np

from connectors.cassandra import RowOutcome
from connectors.kafka.transactions import Received
from pipelines.ocr.engine import Image, TextLine
from pipelines.ocr.reader import PlateReader
from pipelines.runtime.dispositions import Dispositions
from pipelines.runtime.historical import Historical
from pipelines.runtime.match import Match
from pipelines.runtime.normalize import CatchingUp, Dedup, tick_cameras
from pipelines.runtime.ocr import Ocr
from pipelines.runtime.passes import PassBook
from pipelines.runtime.share import ShareHandler
from pipelines.runtime.store import audit_sink, hits_sink, reads_sink
from pipelines.settings import Settings
from pipelines.stages.dedup import DedupPolicy
from pipelines.stages.share import suppression_key
from schemas import SchemaName
from schemas.errors import SendUnacknowledged
from schemas.keys import audit_key, dead_letter_key, delivered_hit_key, hit_key, read_key
from schemas.plates import confusable_key
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    CameraKind,
    DeadLetter,
    Disposition,
    Frame,
    Hit,
    HitDisposition,
    PlateRead,
    utcnow,
)
from tests.factories import a_hit, an_agreement, an_entry
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    PREFIX,
    Counts,
    FakeStore,
    RecordingOutbox,
    TakenStream,
    context,
    event,
    fresh_read,
    run,
)

T = TypeVar("T")
OWNER, PARTNER = "MN9990001", "MN9990002"


def reads_in(out: RecordingOutbox, topic: str = "reads") -> list[PlateRead]:
    return [PlateRead.decode(CODEC, s.value) for s in out.to(topic)]


def hits_in(out: RecordingOutbox, topic: str = "hits") -> list[Hit]:
    return [Hit.decode(CODEC, s.value) for s in out.to(topic)]


def audit_in(out: RecordingOutbox) -> list[AuditEvent]:
    return [AuditEvent.decode(CODEC, s.value) for s in out.to("audit")]


# --- ocr ------------------------------------------------------------------------------


class FakeRecognizer:
    def __init__(self, lines: list[TextLine]) -> None:
        self.lines = lines

    def recognize(self, image: Image) -> list[TextLine]:
        return self.lines


class OverflowingCodec:
    """The real codec, but a frame of ``b"overflow"`` raises what a bad date would."""

    def encode(self, name: SchemaName, record: Mapping[str, Any]) -> bytes:
        return CODEC.encode(name, record)

    def decode(self, name: SchemaName, data: bytes | None) -> dict[str, Any]:
        if data == b"overflow":
            raise OverflowError("date value out of range")
        return CODEC.decode(name, data)


def a_frame(image: bytes) -> Frame:
    collected = utcnow() - timedelta(seconds=3)
    return Frame("f-1", OWNER, "legacy-1", CameraKind.FIXED, collected, 1280, 720, image)


def test_ocr_dead_letters_what_it_cannot_read_and_sends_the_fused_read() -> None:
    store = FakeStore()
    ctx, out = context(store, codec=OverflowingCodec())
    corners = ((560.0, 400.0), (720.0, 400.0), (720.0, 440.0), (560.0, 440.0))
    lines = [TextLine("ABC-1234", 0.93, corners)]
    reader = PlateReader(FakeRecognizer(lines), max_pixels=ctx.settings.ocr_max_pixels)
    agent = Ocr(ctx, reader_factory=lambda _settings: reader)
    counts = Counts("ocr")
    image = cv2.imencode(".jpg", np.full((720, 1280, 3), 200, np.uint8))[1].tobytes()

    async def frames() -> None:
        await agent.load()
        await agent.on_frame(event(b"overflow", topic="unit.frames", offset=1))
        await agent.on_frame(event(a_frame(b"not an image").encode(CODEC), offset=2))
        await agent.on_frame(event(a_frame(image).encode(CODEC), offset=3))
        assert out.to("reads.raw") == []  # the vehicle is open until its camera is quiet
        await agent.flush_all()

    run(frames())
    letters = out.letters()
    assert [(d.error_type, d.source_offset) for d in letters] == [
        ("OverflowError", 1),
        ("InvalidRecord", 2),
    ]
    assert letters[0].original_value == b"overflow"
    (read,) = reads_in(out, "reads.raw")
    assert read.plate == "ABC1234" and read.image_ref == f"crop:{read.read_id}"
    assert out.to("reads.raw")[0].key == b"legacy-1"  # raw_read_key: site or camera
    assert store.names() == ["write_crops"]
    assert (counts["dead_letter"], counts["frame_read"], counts["ok"]) == (2, 1, 1)


# --- normalize and dedup -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def dedup_agents(
    table: dict[str, Any], settle_seconds: float, clock: Clock
) -> tuple[Dedup, RecordingOutbox]:
    ctx, out = context(dedup_settle_seconds=settle_seconds)
    policy = DedupPolicy.from_settings(ctx.settings)
    return Dedup(ctx, PassBook(table, ctx.codec, policy, {}), clock), out


def test_every_read_goes_to_matching_at_once_and_the_best_of_its_pass_to_the_store() -> None:
    table: dict[str, Any] = {}
    clock = Clock()
    agents, out = dedup_agents(table, 2.0, clock)
    counts, normalized = Counts("dedup"), Counts("normalize")
    first = fresh_read(plate="abc-1234", confidence=80.0)
    best = fresh_read(plate="ABC1234", confidence=97.0)
    other_car = fresh_read(plate="ABC1235", confidence=90.0)  # one edit: folded, matched

    async def reads() -> None:
        for read in (first, best, other_car):
            await agents.on_read(event(read.encode(CODEC), topic="unit.reads.raw", partition=1))
        await agents.on_read(event(b"garbage", topic="unit.reads.raw", offset=7))
        # Matched before dedup has settled anything: no hit waits for the settle time.
        assert [r.read_id for r in reads_in(out, "reads.normalized")] == [
            first.read_id, best.read_id, other_car.read_id,
        ]  # fmt: skip
        assert out.to("reads") == []
        await agents.request_settled()
        assert out.to("dedup-ticks") == []  # not due yet
        clock.now += 2.0
        await agents.request_settled()
        (tick,) = out.to("dedup-ticks")
        assert (tick.key, tick.value, tick.partition) == (b"cam-1", b'["cam-1"]', 1)
        await agents.on_tick(event(tick.value, topic="unit.dedup-ticks", partition=1))

    run(reads())
    assert out.to("reads.normalized")[0].key == read_key(first)
    assert reads_in(out, "reads.normalized")[0].plate == "ABC1234"  # normalised
    (stored,) = reads_in(out)
    assert (stored.read_id, stored.plate, stored.duplicates) == (best.read_id, "ABC1234", 2)
    assert out.to("reads")[0].key == read_key(stored)
    assert out.acknowledged == out.to("reads")
    assert [letter.stage for letter in out.letters()] == ["normalize"]
    assert (normalized["ok"], counts["duplicate"], counts["ok"]) == (3, 2, 1)
    assert [k.split("/")[0] for k in table] == ["cam-1"]
    assert table[next(iter(table))]["held"] is None  # sent: a new worker will not send it


def test_one_tick_settles_the_cameras_due_in_its_partition() -> None:
    clock = Clock()
    agents, out = dedup_agents({}, 2.0, clock)

    async def reads() -> None:
        for camera in ("cam-1", "cam-2"):
            read = fresh_read(camera_id=camera)
            await agents.on_read(event(read.encode(CODEC), key=camera.encode(), partition=1))
        await agents.on_read(event(fresh_read(camera_id="cam-3").encode(CODEC), partition=2))
        clock.now += 2.0
        await agents.request_settled()
        ticks = out.to("dedup-ticks")
        assert sorted((t.partition, tick_cameras(t.value)) for t in ticks) == [
            (1, ["cam-1", "cam-2"]),
            (2, ["cam-3"]),
        ]
        for tick in ticks:
            await agents.on_tick(event(tick.value, partition=tick.partition))

    run(reads())
    assert sorted(r.camera_id for r in reads_in(out)) == ["cam-1", "cam-2", "cam-3"]
    assert tick_cameras(b"cam-9") == ["cam-9"]  # a tick written before this format


def test_a_pass_is_marked_sent_only_once_kafka_acknowledged_its_read() -> None:
    table: dict[str, Any] = {}
    clock = Clock()
    agents, out = dedup_agents(table, 2.0, clock)
    counts = Counts("dedup")
    read = fresh_read(plate="ACK1234")
    held_while_sending: list[bool] = []
    send = out.send_acknowledged

    async def observed(records: Any) -> None:
        held_while_sending.append(all(v["held"] is not None for v in table.values()))
        await send(records)

    out.send_acknowledged = observed  # type: ignore[method-assign]

    async def reads() -> None:
        await agents.on_read(event(read.encode(CODEC), partition=1))
        clock.now += 2.0
        out.refusals.append(SendUnacknowledged("no acknowledgement (test)"))
        await agents.on_tick(event(b'["cam-1"]', partition=1))

    run(reads())
    # Refused, the pass stayed held (table and memory) and the tick was tried again.
    assert held_while_sending == [True, True]
    sent = reads_in(out)
    assert [r.read_id for r in sent] == [read.read_id, read.read_id]  # twice, never lost
    assert [PlateRead.decode(CODEC, s.value).read_id for s in out.acknowledged] == [read.read_id]
    assert table[next(iter(table))]["held"] is None
    assert (counts["retry"], counts["ok"], counts["dead_letter"]) == (1, 1, 0)


def test_a_batch_is_matched_while_the_one_before_waits_to_be_folded_and_committed_after() -> None:
    """A tick holding dedup's lock (its send not yet acknowledged) holds the fold of the
    reads, never their matching; each batch is committed only once folded, in order."""
    table: dict[str, Any] = {}
    agents, out = dedup_agents(table, 2.0, Clock())
    first, second = fresh_read(plate="FST1234"), fresh_read(plate="SND1234")
    stream = TakenStream([
        [event(first.encode(CODEC), partition=1, offset=0)],
        [event(second.encode(CODEC), partition=1, offset=1)],
    ])  # fmt: skip

    async def scenario() -> None:
        await agents.lock.acquire()  # as a tick waiting for Kafka's acknowledgement
        consuming = asyncio.ensure_future(agents.consume_reads(stream))  # type: ignore[arg-type]
        for _ in range(1000):
            if len(out.to("reads.normalized")) == 2:
                break
            await asyncio.sleep(0.005)
        # The second batch went to matching while the first still waits for the lock.
        assert [r.plate for r in reads_in(out, "reads.normalized")] == ["FST1234", "SND1234"]
        assert (stream.acked, table) == ([], {})  # neither folded: neither committed
        agents.lock.release()
        for _ in range(1000):
            if len(stream.acked) == 2:
                break
            await asyncio.sleep(0.005)
        consuming.cancel()

    run(scenario())
    assert stream.acked == [0, 1]
    # Both folded, each an open pass of its camera holding its read.
    assert sorted(key.split("/")[0] for key in table) == ["cam-1", "cam-1"]
    held = [PlateRead.decode(CODEC, base64.b64decode(v["held"])) for v in table.values()]
    assert sorted(read.plate for read in held) == ["FST1234", "SND1234"]


def test_no_pass_of_a_partition_settles_until_its_commits_reach_the_end_it_had_at_the_start() -> (
    None
):
    """A pass held when the last worker stopped is overdue at once after a restart; a
    better read of it may still wait in the partition's backlog. Partition 1's commits
    stand at 3 of 6 when the worker first asks; partition 2 has no backlog."""
    clock = Clock()
    ctx, out = context(dedup_settle_seconds=2.0)
    policy = DedupPolicy.from_settings(ctx.settings)
    answers = [{1: (3, 6), 2: (4, 4)}, {1: (5, 7), 2: (4, 4)}, {1: (6, 9), 2: (5, 5)}]
    asked: list[dict[int, tuple[int, int]]] = []

    async def positions() -> dict[int, tuple[int, int]]:
        asked.append(answers.pop(0))
        return asked[-1]

    catching_up = CatchingUp(positions, clock=clock, ask_every_s=1.0)
    agents = Dedup(ctx, PassBook({}, ctx.codec, policy, {}), clock, catching_up=catching_up)
    worse = fresh_read(plate="BKL1234", confidence=70.0)
    better = fresh_read(plate="BKL1234", confidence=96.0)
    other = fresh_read(plate="OTH1234", camera_id="cam-2")

    def ticks(partition: int) -> list[list[str]]:
        return [tick_cameras(t.value) for t in out.to("dedup-ticks") if t.partition == partition]

    async def scenario() -> None:
        await agents.on_reads([event(worse.encode(CODEC), partition=1, offset=3)])
        await agents.on_reads([event(other.encode(CODEC), key=b"cam-2", partition=2)])
        clock.now += 5.0  # both passes overdue
        await agents.request_settled()
        assert len(asked) == 1
        assert (ticks(1), ticks(2)) == ([], [["cam-2"]])  # partition 2's only
        # A tick for partition 1 (sent before the restart) settles nothing either.
        await agents.on_tick(event(b'["cam-1"]', topic="unit.dedup-ticks", partition=1))
        assert reads_in(out) == []
        await agents.on_reads([event(better.encode(CODEC), partition=1, offset=5)])
        await agents.request_settled()
        assert len(asked) == 1  # Kafka is asked at most once a second
        clock.now += 1.0
        await agents.request_settled()  # commits at 5 of the 6: still behind
        assert len(asked) == 2 and ticks(1) == []
        clock.now += 1.0
        await agents.request_settled()  # commits at 6: caught up (the end moved on since)
        assert len(asked) == 3
        assert ticks(1) == [["cam-1"]]
        tick = next(t for t in out.to("dedup-ticks") if t.partition == 1)
        await agents.on_tick(event(tick.value, topic="unit.dedup-ticks", partition=1))
        (stored,) = reads_in(out)
        assert (stored.read_id, stored.duplicates) == (better.read_id, 1)
        clock.now += 5.0
        await agents.request_settled()
        assert len(asked) == 3  # nothing behind: Kafka is not asked again

    run(scenario())


def test_the_backlog_is_asked_again_after_a_rebalance_and_unknown_is_taken_as_none() -> None:
    answers: list[dict[int, tuple[int, int]] | Exception] = [
        {0: (10, 10)},
        {0: (10, 12)},
        RuntimeError("no broker"),
    ]

    async def positions() -> dict[int, tuple[int, int]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    catching_up = CatchingUp(positions, ask_every_s=0.0)

    async def scenario() -> None:
        assert not catching_up.settling(0)  # not known yet: nothing settles
        assert await catching_up.refresh()
        assert catching_up.settling(0) and catching_up.settling(3)  # committed to the end
        catching_up.forget()  # partitions moved
        assert not catching_up.settling(0)
        assert await catching_up.refresh()
        assert not catching_up.settling(0)  # commits at 10 of 12
        catching_up.forget()
        assert await catching_up.refresh()  # Kafka could not tell: settles as before
        assert catching_up.settling(0)

    run(scenario())


def test_a_batch_and_a_tick_are_committed_only_once_kafka_has_what_they_wrote_to_the_table() -> (
    None
):
    """Faust's own flush before a commit gives up after 0.1 s without a send: the agent
    itself waits for the changelog records of the passes a batch or tick wrote."""
    table: dict[str, Any] = {}
    clock = Clock()
    ctx, out = context(dedup_settle_seconds=2.0)
    policy = DedupPolicy.from_settings(ctx.settings)
    changelog = asyncio.Event()
    waits: list[str] = []

    async def changelog_delivered() -> None:
        waits.append("changelog")
        await changelog.wait()

    agents = Dedup(ctx, PassBook(table, ctx.codec, policy, {}), clock, None, changelog_delivered)
    read = fresh_read(plate="CHG1234")
    stream = TakenStream([[event(read.encode(CODEC), partition=1, offset=0)]])

    async def scenario() -> None:
        consuming = asyncio.ensure_future(agents.consume_reads(stream))  # type: ignore[arg-type]
        for _ in range(1000):
            if waits:
                break
            await asyncio.sleep(0.005)
        assert table and waits == ["changelog"]  # folded and written, then waiting
        await asyncio.sleep(0.05)
        assert stream.acked == []  # not while the changelog record is in flight
        changelog.set()
        for _ in range(1000):
            if stream.acked:
                break
            await asyncio.sleep(0.005)
        assert stream.acked == [0]
        consuming.cancel()

        changelog.clear()
        clock.now += 2.0
        await agents.request_settled()
        (tick,) = out.to("dedup-ticks")
        ticking = asyncio.ensure_future(
            agents.on_tick(event(tick.value, topic="unit.dedup-ticks", partition=1))
        )
        for _ in range(1000):
            if len(waits) == 2:
                break
            await asyncio.sleep(0.005)
        assert reads_in(out)[0].read_id == read.read_id  # sent, recorded, then waiting
        assert not ticking.done()  # Faust acknowledges the tick when on_tick returns
        changelog.set()
        await ticking

    run(scenario())


# --- match ------------------------------------------------------------------------------


def test_match_sends_hits_keyed_by_folded_plate_and_dead_letters_the_rest() -> None:
    ctx, out = context()
    ctx.hotlist.put(an_entry(plate="ABC1234"))
    counts = Counts("match")
    hot, other = fresh_read(plate="A8C1234"), fresh_read(plate="ZZZ999")
    events = [event(hot.encode(CODEC)), event(b"bad", offset=1), event(other.encode(CODEC))]
    run(Match(ctx).on_batch(events))
    (hit,) = hits_in(out)
    assert hit.read == hot and hit.entry.plate == "ABC1234"
    assert out.to("hits")[0].key == hit_key(hit) == confusable_key("ABC1234").encode()
    assert [letter.source_offset for letter in out.letters()] == [1]
    assert (counts["hit"], counts["no_hit"], counts["dead_letter"]) == (1, 1, 1)


def test_a_pass_alerts_once_per_entry_and_another_car_one_edit_away_alerts_too() -> None:
    """Every read of a pass is matched; suppression keeps the pass to one alert per
    entry, and a different car folded into the pass still gets its own alert."""
    clock = Clock()
    agents, out = dedup_agents({}, 2.0, clock)
    ctx = agents.ctx
    ctx.agreements.put(an_agreement())
    wanted = an_entry(entry_id="stolen:MN:WNT1234", plate="WNT1234")
    other_entry = an_entry(entry_id="warrant:MN:WNT1235", plate="WNT1235")
    for entry in (wanted, other_entry):
        ctx.hotlist.put(entry)
    now = utcnow().replace(microsecond=0)
    first = fresh_read(plate="WNT1234", confidence=70.0, collected_at=now)
    better = fresh_read(plate="WNT1234", confidence=96.0, collected_at=now + timedelta(seconds=1))
    other_car = fresh_read(plate="WNT1235", collected_at=now + timedelta(seconds=2))
    share = ShareHandler(ctx, lambda _spec: None)
    counts = Counts("share")

    async def flow() -> None:
        for read in (first, better, other_car):
            await agents.on_read(event(read.encode(CODEC), partition=0))
        normalized = [event(s.value, offset=i) for i, s in enumerate(out.to("reads.normalized"))]
        await Match(ctx).on_batch(normalized)

    run(flow())
    hits = hits_in(out)
    assert [(h.read.read_id, h.entry.entry_id) for h in hits] == [
        (first.read_id, wanted.entry_id),
        (better.read_id, wanted.entry_id),  # stored as a hit, not re-alerted
        (other_car.read_id, other_entry.entry_id),
    ]
    # Share's batches one hit each, as they come (one partition: the pass's key).
    delivered = []
    for offset, sent in enumerate(out.to("hits")):
        work = share.process([received(sent.value, partition=0, offset=offset)])
        delivered += [r for r in work.records if r.topic == f"unit.hits.{OWNER}"]
        for effect in work.on_commit:
            effect()
    alerted = [Hit.decode(CODEC, r.value).read.read_id for r in delivered]
    assert alerted == [first.read_id, other_car.read_id]
    assert (counts["ok"], counts["suppressed"]) == (2, 1)
    assert out.to("reads") == []  # the store's read is still settling


# --- historical ---------------------------------------------------------------------------


def test_historical_checks_a_new_entry_once_through_a_store_outage() -> None:
    store = FakeStore()
    ctx, out = context(store)
    store.stored = [fresh_read(plate="HST1234")]
    store.unavailable = 1
    counts = Counts("historical")
    entry = an_entry(entry_id="stolen:MN:HST1234", plate="HST1234")
    agent = Historical(ctx)
    run(agent.on_change(event(entry.encode(CODEC), key=entry.entry_id.encode())))
    (hit,) = hits_in(out)
    assert hit.historical and hit.read == store.stored[0]
    assert store.names() == ["entry_checked", "stored_reads_like", "mark_entry_checked"]
    assert (counts["retry"], counts["hit"], counts["ok"]) == (1, 1, 1)

    store.checked = True
    run(agent.on_change(event(entry.encode(CODEC), key=entry.entry_id.encode())))
    assert len(hits_in(out)) == 1
    assert counts["already_checked"] == 1
    run(agent.on_change(event(None, key=entry.entry_id.encode())))  # retracted
    assert store.calls[-1] == ("forget_entry_check", entry.entry_id)


# --- share --------------------------------------------------------------------------------


def received(value: bytes | None, partition: int = 2, offset: int = 0) -> Received:
    return Received(f"{PREFIX}.hits", partition, offset, b"RPT1234", value, {"h": b"1"})


def test_share_delivers_by_agreement_and_a_restarted_worker_suppresses_the_repeat() -> None:
    ctx, _out = context()
    ensured: list[str] = []
    ctx.agreements.put(an_agreement(effective_from=utcnow() - timedelta(days=1)))
    counts = Counts("share")
    now = utcnow()
    first = a_hit(read=fresh_read(plate="RPT1234", collected_at=now), entry=an_entry())
    repeat = a_hit(read=fresh_read(plate="RPT1Z34", collected_at=now + timedelta(minutes=1)))
    handler = ShareHandler(ctx, lambda spec: ensured.append(spec.name))
    work = handler.process([received(first.encode(CODEC))])
    topics = [r.topic for r in work.records]
    assert topics == [f"unit.hits.{OWNER}", "unit.audit", f"unit.hits.{PARTNER}", "unit.audit"]
    assert ensured == [f"unit.hits.{OWNER}", f"unit.hits.{PARTNER}"]
    partner = work.records[2]
    assert partner.key == delivered_hit_key(first)
    assert partner.value == first.encode(CODEC)  # the bytes as received
    audits = [AuditEvent.decode(CODEC, r.value) for r in work.records if r.topic == "unit.audit"]
    assert [a.recipient_agency_ori for a in audits] == [OWNER, PARTNER]
    assert work.records[1].key == audit_key(audits[0])
    # The memory goes to the changelog partition of the hit's partition.
    assert sorted(key for p, key, _ in work.state if p == 2) == [
        b"alert/" + suppression_key(first).encode(),
        b"hit/" + first.hit_id.encode(),
    ]
    assert counts["ok"] == 0, "counted only once the transaction committed"
    for effect in work.on_commit:
        effect()
    assert counts["ok"] == 1

    restarted = ShareHandler(ctx, ensured.append)  # another worker, from the changelog
    restarted.restore(2, {key: value for _, key, value in work.state if value is not None})
    again = restarted.process([received(repeat.encode(CODEC), offset=1)])
    assert again.records == [] and again.state == []
    replayed = restarted.process([received(first.encode(CODEC), offset=2)])
    assert replayed.records == []
    for effect in [*again.on_commit, *replayed.on_commit]:
        effect()
    assert (counts["ok"], counts["suppressed"], counts["duplicate"]) == (1, 1, 1)


def test_share_delivers_a_historical_hit_once_and_dead_letters_what_it_cannot_read() -> None:
    ctx, _out = context()
    counts = Counts("share")
    past = a_hit(read=fresh_read(plate="HIS5678"), historical=True)
    handler = ShareHandler(ctx, lambda _spec: None)
    work = handler.process(
        [received(past.encode(CODEC)), received(b"garbage", 1, 7), received(past.encode(CODEC))]
    )
    assert [r.topic for r in work.records] == [
        f"unit.hits.{OWNER}",
        "unit.audit",
        "unit.deadletter",
    ]
    letter = DeadLetter.decode(CODEC, work.records[2].value)
    assert (letter.stage, letter.error_type) == ("share", "DecodeError")
    assert (letter.source_partition, letter.source_offset, letter.original_value) == (
        1, 7, b"garbage",
    )  # fmt: skip
    assert letter.original_headers == {"h": b"1"}
    assert work.records[2].key == dead_letter_key(letter)
    for effect in work.on_commit:
        effect()
    assert (counts["ok"], counts["duplicate"], counts["dead_letter"]) == (1, 1, 1)


def test_share_forgets_on_the_tick_what_is_out_of_the_window() -> None:
    ctx, _out = context(hit_suppression_seconds=600)
    now = utcnow()
    clock = [now]
    handler = ShareHandler(ctx, lambda _spec: None, clock=lambda: clock[0])
    hit = a_hit(read=fresh_read(plate="OLD1234"))
    handler.process([received(hit.encode(CODEC), partition=0)])
    clock[0] = now + timedelta(minutes=9)
    assert handler.tick([0]).state == [], "still in the window"
    clock[0] = now + timedelta(minutes=11)
    work = handler.tick([0])
    assert sorted(key for _, key, value in work.state if value is None) == [
        b"alert/" + suppression_key(hit).encode(),
        b"hit/" + hit.hit_id.encode(),
    ]
    assert len(handler.memory[0].alerts) == len(handler.memory[0].delivered) == 0


# --- store --------------------------------------------------------------------------------


def test_store_sinks_write_a_batch_through_an_outage_and_account_for_each_row() -> None:
    store = FakeStore()
    ctx, out = context(store)
    counts = Counts("store")
    reads = [fresh_read(), fresh_read(), fresh_read()]
    store.unavailable = 2
    store.outcomes = [RowOutcome(True), RowOutcome(False, "too old", expired=True),
                      RowOutcome(False, "WriteFailure: no")]  # fmt: skip
    events = [event(r.encode(CODEC), offset=i) for i, r in enumerate(reads)]
    run(reads_sink(ctx).on_batch([*events, event(b"bad", offset=9)]))
    assert store.calls == [("write_reads", reads)]
    letters = out.letters()
    assert [(d.source_offset, d.error_type) for d in letters] == [
        (9, "DecodeError"),
        (2, "PermanentError"),
    ]
    assert letters[1].reason == "WriteFailure: no"
    assert (counts["retry"], counts["ok"], counts["expired"], counts["dead_letter"]) == (
        2, 1, 1, 2,
    )  # fmt: skip


def test_an_audit_event_the_store_already_holds_counts_as_stored_not_dead_lettered() -> None:
    store = FakeStore()
    ctx, out = context(store)
    counts = Counts("store-audit")
    events = [AuditEvent(f"e-{i}", utcnow(), "svc:share", AuditAction.DISSEMINATE, "hit",
                         "h-1") for i in range(2)]  # fmt: skip
    store.outcomes = [RowOutcome(True, already_stored=True),
                      RowOutcome(False, "InvalidRequest: may not overwrite an existing row")]  # fmt: skip
    run(audit_sink(ctx).on_batch([event(e.encode(CODEC), offset=i) for i, e in enumerate(events)]))
    assert [(d.source_offset, d.reason) for d in out.letters()] == [
        (1, "InvalidRequest: may not overwrite an existing row")
    ]
    assert (counts["already_stored"], counts["ok"], counts["dead_letter"]) == (1, 0, 1)


def test_hits_and_audit_have_their_own_sinks() -> None:
    store = FakeStore()
    ctx, _ = context(store)
    hit = a_hit(read=fresh_read())
    audit = AuditEvent("ev-1", utcnow().replace(microsecond=0), "svc:test", AuditAction.OTHER,
                       "hit", hit.hit_id, actor_agency_ori=OWNER)  # fmt: skip
    counts = Counts("store-audit")
    run(hits_sink(ctx).on_batch([event(hit.encode(CODEC))]))
    run(audit_sink(ctx).on_batch([event(audit.encode(CODEC))]))
    assert store.calls == [("write_hits", [hit]), ("write_audit", [audit])]
    assert counts["ok"] == 1


# --- dispositions ---------------------------------------------------------------------------


def a_disposition(decided_by_agency_ori: str = OWNER) -> HitDisposition:
    now = utcnow().replace(microsecond=0)  # as the wire keeps it
    return HitDisposition(
        hit_id="hit-1",
        hit_agency_ori=OWNER,
        matched_at=now - timedelta(minutes=5),
        disposition=Disposition.CORRECT,
        decided_by="officer.b",
        decided_by_agency_ori=decided_by_agency_ori,
        decided_at=now,
    )


def test_a_disposition_is_stored_through_an_outage_and_audited() -> None:
    store = FakeStore()
    ctx, out = context(store)
    counts = Counts("dispositions")
    store.unavailable = 2  # the lookup of the hit, then its write, each fail once
    disposition = a_disposition()
    agent = Dispositions(ctx)
    run(agent.on_disposition(event(disposition.encode(CODEC), topic="unit.dispositions")))
    assert store.names() == ["hit_category", "write_disposition"]
    assert store.calls[1] == ("write_disposition", (disposition, 3600))
    assert [a.outcome for a in audit_in(out)] == [AuditOutcome.SUCCESS]
    assert (counts["retry"], counts["ok"], counts["dead_letter"]) == (2, 1, 0)


def test_a_disposition_by_an_agency_that_never_received_the_hit_is_denied() -> None:
    store = FakeStore()
    ctx, out = context(store)
    run(Dispositions(ctx).on_disposition(event(a_disposition("MN9990003").encode(CODEC))))
    assert [a.outcome for a in audit_in(out)] == [AuditOutcome.DENIED]
    assert [letter.error_type for letter in out.letters()] == ["NotARecipient"]
    assert store.names() == ["hit_category"]


def test_the_runtime_settings_come_from_the_worker_settings() -> None:
    ctx, _ = context(match_fuzzy_min_length=7)
    assert isinstance(ctx.settings, Settings)
    assert ctx.hotlist.fuzzy_min_length == 7


def test_a_disposition_of_a_hit_not_yet_stored_waits_for_it() -> None:
    """Partner and store both follow the hits topic: a quick partner may decide before the
    store agent has written the hit, so a recent hit is waited for, not refused."""

    class LateStore(FakeStore):
        def hit_category(self, disposition: Any) -> tuple[str, int] | None:
            found = super().hit_category(disposition)
            return found if self.names().count("hit_category") >= 3 else None

    store = LateStore()
    ctx, out = context(store)
    recent = dataclasses.replace(a_disposition(), matched_at=utcnow() - timedelta(seconds=2))
    run(Dispositions(ctx).on_disposition(event(recent.encode(CODEC))))
    assert store.names() == ["hit_category"] * 3 + ["write_disposition"]
    assert [a.outcome for a in audit_in(out)] == [AuditOutcome.SUCCESS]


def test_a_disposition_of_an_old_unknown_hit_is_refused_at_once() -> None:
    store = FakeStore()
    store.category = None
    ctx, out = context(store)
    run(Dispositions(ctx).on_disposition(event(a_disposition().encode(CODEC))))
    assert store.names() == ["hit_category"]  # matched 5 minutes ago: past the grace
    assert [letter.stage for letter in out.letters()] == ["dispositions"]
