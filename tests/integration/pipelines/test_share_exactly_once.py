"""Share delivers exactly once (Kafka transactions; real secured Kafka, real worker
processes logging in as ``lprx-worker``): a worker killed with SIGKILL mid-transaction
and restarted delivers every hit once to each entitled partner and none to an agency
whose agreement does not cover it, and a hit that comes twice (same hit id) is delivered
once, also by the worker that takes over. Partner topics are read as partners read
them, read_committed."""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.share import shared as shared_count
from connectors.kafka.agreements import publish_agreement, publish_pending
from connectors.kafka.reader import read_topic
from connectors.kafka.topics import base_config, make_producer
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.keys import hit_key
from schemas.records import (
    AuditAction,
    AuditEvent,
    DeadLetter,
    Hit,
    HotlistCategory,
    SharingAgreement,
    utcnow,
)
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.factories import a_hit, a_read, an_agreement, an_entry

CODEC = SingleObjectCodec()
OWNER, PARTNER = "MN9990001", "MN9990002"
UNENTITLED = "MN9990003"  # shares only another category with the owner
HITS = 6000
Spawn = Callable[[list[str], dict[str, str]], Process]


def values(settings: Settings, topic: str) -> list[bytes]:
    """Every committed record of the topic, from its start to its end now."""
    messages = read_topic(settings, topic, max_messages=1_000_000, timeout_s=30)
    return [v for m in messages if (v := m.value()) is not None]


def delivered(settings: Settings, ori: str) -> Counter[str]:
    """How often each hit id reached the agency's topic."""
    topic = settings.partner_hits_topic(ori)
    return Counter(Hit.decode(CODEC, v).hit_id for v in values(settings, topic))


def disseminations(settings: Settings) -> Counter[tuple[str, str]]:
    events = [AuditEvent.decode(CODEC, v) for v in values(settings, settings.topic("audit"))]
    return Counter(
        (e.target_id or "", e.recipient_agency_ori or "")
        for e in events
        if e.action is AuditAction.DISSEMINATE
    )


def share_worker(spawn: Spawn, settings: Settings, port: int | None = None) -> Process:
    args = ["worker", "--stages", "share", "--metrics-port", str(port or free_port())]
    return spawn(args, settings_env(settings))


def a_stolen_car_hit(plate: str, **overrides: object) -> Hit:
    return a_hit(
        read=a_read(plate=plate, agency_ori=OWNER, collected_at=utcnow()),
        entry=an_entry(entry_id=f"stolen:MN:{plate}", plate=plate, owning_agency_ori=OWNER),
        **overrides,
    )


def other_agreement() -> SharingAgreement:
    return an_agreement(
        agreement_id="agr-missing-only",
        partner_agency_ori=UNENTITLED,
        hit_categories=(HotlistCategory.MISSING_PERSON,),
        effective_from=utcnow() - timedelta(days=1),
    )


def pending_widening(agreement: SharingAgreement) -> SharingAgreement:
    return replace(agreement, hit_categories=(*agreement.hit_categories,
                   HotlistCategory.STOLEN_VEHICLE), approved_by="", proposed_by="admin")  # fmt: skip


@pytest.fixture
def shared(servers: Settings) -> Iterator[tuple[Settings, Producer]]:
    """Three partitions, set up as ``lprx setup`` does (topics, the worker's ACLs); the
    owner shares stolen cars with the partner, and only missing persons with another (a
    widening to stolen cars waits for its second approver)."""
    settings = provision(unique_settings(servers, topic_partitions=3))
    producer = make_producer(settings, "test-share-eos")
    since = utcnow() - timedelta(days=1)
    publish_agreement(settings, producer, CODEC, an_agreement(effective_from=since))
    other = other_agreement()
    publish_agreement(settings, producer, CODEC, other)
    # A widening waiting for its second approver: stolen cars too. Not in force.
    publish_pending(settings, producer, CODEC, pending_widening(other), ["hits of STOLEN_VEHICLE"])
    yield settings, producer
    producer.flush(10)


class Watermarks:
    """A topic's ends as the log has them and as read_committed readers see them: the
    two differ while a transaction is open on the partition (its records written, not
    yet committed or aborted)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.partitions = range(settings.topic_partitions)
        self._readers = {
            level: Consumer(
                {
                    **base_config(settings),
                    "group.id": f"test-watermarks-{uuid.uuid4().hex}",
                    "isolation.level": level,
                }
            )
            for level in ("read_uncommitted", "read_committed")
        }

    def _ends(self, level: str) -> list[int]:
        reader = self._readers[level]
        return [
            int(reader.get_watermark_offsets(TopicPartition(self.topic, p), 5, False)[1])
            for p in self.partitions
        ]

    def open_transaction(self) -> bool:
        written, committed = self._ends("read_uncommitted"), self._ends("read_committed")
        return any(w > c for w, c in zip(written, committed, strict=True))

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()


def test_a_worker_killed_mid_stream_delivers_every_hit_exactly_once(
    shared: tuple[Settings, Producer], spawn: Spawn
) -> None:
    settings, producer = shared
    hits = [a_stolen_car_hit(f"EOS{i:05d}") for i in range(HITS)]
    for hit in hits:
        producer.produce(settings.topic("hits"), key=hit_key(hit), value=hit.encode(CODEC))
        producer.poll(0)
    producer.flush(30)
    everyone = {h.hit_id for h in hits}
    # Two workers killed in the middle of the backlog, each with a transaction open
    # (its deliveries written, not committed), then one that finishes.
    partner = Watermarks(settings, settings.partner_hits_topic(PARTNER))
    caught = 0
    for kill in range(2):
        port = free_port()
        worker = share_worker(spawn, settings, port)
        wait_for(lambda: shared_count(port) >= 100, 120, f"worker {kill} sharing")  # noqa: B023
        wait_for(partner.open_transaction, 30, "a transaction open", every=0)
        worker.popen.send_signal(signal.SIGKILL)
        worker.popen.wait(10)
        time.sleep(0.5)
        caught += partner.open_transaction()  # left open by the dead worker
    partner.close()
    assert caught, "no kill left a transaction open"
    # What the workers committed before dying, read as partners read it.
    assert len(delivered(settings, PARTNER)) < len(hits), "the backlog was shared already"
    last = share_worker(spawn, settings, free_port())
    wait_for(lambda: set(delivered(settings, PARTNER)) == everyone, 180, "every hit delivered")
    assert last.alive(), last.output()
    for ori in (OWNER, PARTNER):
        counts = delivered(settings, ori)
        assert set(counts) == everyone, ori
        assert [h for h, n in counts.items() if n != 1] == [], f"delivered twice to {ori}"
    # Every hit is delivered now, the unentitled agency's share of them included.
    assert delivered(settings, UNENTITLED) == Counter()
    audited = disseminations(settings)
    assert set(audited) == {(h, ori) for h in everyone for ori in (OWNER, PARTNER)}
    assert [k for k, n in audited.items() if n != 1] == [], "a delivery audited twice"


def test_the_same_hit_twice_is_delivered_once_also_by_the_next_worker(
    shared: tuple[Settings, Producer], spawn: Spawn, tmp_path: Path
) -> None:
    settings, producer = shared

    def send(*records: Hit | bytes) -> None:
        for record in records:
            if isinstance(record, Hit):
                key, value = hit_key(record), record.encode(CODEC)
            else:
                key, value = b"garbage", record
            producer.produce(settings.topic("hits"), key=key, value=value)
        producer.flush(10)

    def arrived(marker: Hit) -> bool:
        return marker.hit_id in delivered(settings, PARTNER)

    live = a_stolen_car_hit("TWC1234")
    past = a_stolen_car_hit("TWC5678", historical=True)  # exempt from suppression
    first = share_worker(spawn, settings)
    marker = a_stolen_car_hit("MRK0001")
    send(live, past, live, past, b"not a hit", marker)
    wait_for(lambda: arrived(marker), 120, "the first marker")
    first.stop()  # a clean stop; the next worker has only what Kafka kept

    second = share_worker(spawn, settings)
    marker = a_stolen_car_hit("MRK0002")
    send(past, live, marker)
    wait_for(lambda: arrived(marker), 120, "the second marker")
    assert second.alive(), second.output()
    for ori in (OWNER, PARTNER):
        counts = delivered(settings, ori)
        assert (counts[live.hit_id], counts[past.hit_id]) == (1, 1), ori
    letters = [DeadLetter.decode(CODEC, v) for v in values(settings, settings.topic("deadletter"))]
    assert [(d.stage, d.original_value) for d in letters] == [("share", b"not a hit")]

    # The widening waiting gave the other partner nothing; approved, it shares from then.
    assert delivered(settings, UNENTITLED) == Counter()
    approved = replace(
        pending_widening(other_agreement()), approved_by="sup", effective_from=utcnow()
    )
    publish_agreement(settings, producer, CODEC, approved)
    markers: list[Hit] = []

    def reached_other() -> bool:
        markers.append(a_stolen_car_hit(f"APR{len(markers):04d}"))
        send(markers[-1])  # until the worker follows the approval
        return bool(set(delivered(settings, UNENTITLED)) & {m.hit_id for m in markers})

    wait_for(reached_other, 60, "a hit shared by the approved widening", every=2)
