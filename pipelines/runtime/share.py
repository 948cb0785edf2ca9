"""Stage ``share``, exactly once: each hit to the agencies entitled to it, a repeat not
re-alerted, nothing lost and nothing doubled.

Who receives a hit is ``stages/share.py`` (the owner, and partners by agreement in
force). The stage is not a Faust agent: Faust's own ``exactly_once`` is broken in
faust-streaming (issues #517, #323, #177, #440: duplicates after a kill, crashes), so
``ShareService`` runs the transactional loop of ``connectors/kafka/transactions.py`` in
a thread of the worker, started once the worker is up and the agreements are loaded,
stopped before it shuts down. For each batch of hits the deliveries (the hit's bytes as
received, to ``<prefix>.hits.<ORI>``), their DISSEMINATE audit events, the dead letters
and the changes of the suppression memory are committed with the batch's input offsets
in one transaction: a partner reading read_committed gets each hit once.

    consumer group      ``<topic_prefix>-share``: one per deployment, whichever worker
                        runs the stage, as there is one changelog
    transactional id    ``<topic_prefix>-share-<worker id>@<host>``: stable across a
                        worker's restarts, so a restarted worker aborts what it left open
                        at once (two share workers on one host need their own worker ids)

Hits are keyed by folded plate (``schemas/keys.py hit_key``), so a car's repeats meet in
one partition, and each partition has its ``ShareMemory``: the last alert per (plate,
entry) and the hits delivered in the window, so a hit that comes again (same hit id) is
not delivered again, historical ones included. The memory's changelog is the compacted
``<prefix>.hit-alerts`` topic, bounded as every changelog is (``connectors/kafka/topics.py
bounded_compacted_config`` says how its copies of plates are destroyed), partition for
partition with ``hits``, one record per entry, times as epoch seconds:

    alert/<folded plate>/<entry id>   {"at": read time, "seen": when alerted}
    hit/<hit id>                      {"at": when delivered}

Entries are tombstoned once out of the window (a later hit, or the minute's tick).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from confluent_kafka import KafkaException

from connectors.kafka.acls import share_transactional_prefix
from connectors.kafka.topics import TopicSpec, admin_client, ensure_topics, partner_topic
from connectors.kafka.transactions import (
    Handler,
    LoopConfig,
    Outgoing,
    Received,
    TransactionalLoop,
    Work,
    adopt_group_offsets,
)
from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import needs_letter
from pipelines.runtime.wiring import Wiring
from pipelines.settings import Settings
from pipelines.stages import share
from pipelines.stages.share import ShareMemory
from schemas.deadletter import dead_letter
from schemas.keys import audit_key, dead_letter_key, delivered_hit_key
from schemas.records import Hit, utcnow

log = logging.getLogger(__name__)

STATE_TOPIC = "hit-alerts"
ALERT, HIT = b"alert/", b"hit/"
TICK_MAX_S = 60.0

StateChange = tuple[int, bytes, bytes | None]


def loop_config(settings: Settings) -> LoopConfig:
    """The loop of the stage: its own consumer group and transactional id."""
    window = settings.hit_suppression_seconds
    return LoopConfig(
        source=settings.topic("hits"),
        changelog=settings.topic(STATE_TOPIC),
        group_id=f"{settings.topic_prefix}-share",
        transactional_id=f"{share_transactional_prefix(settings)}{settings.worker_id}@"
        f"{socket.gethostname()}",
        client_id=f"{settings.worker_id}-share",
        tick_s=min(TICK_MAX_S, max(window / 4, 1.0)),
    )


def _seconds(at: datetime) -> float:
    return at.timestamp()


def _time(value: object) -> datetime:
    if not isinstance(value, int | float):
        raise ValueError(f"not a time: {value!r}")
    return datetime.fromtimestamp(value, UTC)


def memory_changes(partition: int, memory: ShareMemory) -> Iterator[StateChange]:
    """The changelog records of what ``memory`` changed since last asked."""
    alerts, forgotten = memory.alerts.take_changes()
    for key, at in alerts.items():
        seen = memory.alerts.seen(key)
        value = {"at": _seconds(at), "seen": _seconds(seen)}
        yield partition, ALERT + key.encode(), json.dumps(value).encode()
    for key in forgotten:
        yield partition, ALERT + key.encode(), None
    delivered, forgotten = memory.delivered.take_changes()
    for hit_id, at in delivered.items():
        yield partition, HIT + hit_id.encode(), json.dumps({"at": _seconds(at)}).encode()
    for hit_id in forgotten:
        yield partition, HIT + hit_id.encode(), None


def restored_memory(window: timedelta, entries: Mapping[bytes, bytes]) -> ShareMemory:
    """A partition's memory from its changelog entries; an entry it cannot read is
    logged and forgotten (only its memory is lost: a repeat may alert again)."""
    alerts: list[tuple[datetime, datetime, str]] = []
    delivered: list[tuple[datetime, str]] = []
    for key, value in entries.items():
        try:
            fields = json.loads(value)
            if key.startswith(ALERT):
                name = key[len(ALERT) :].decode()
                alerts.append((_time(fields["at"]), _time(fields["seen"]), name))
            elif key.startswith(HIT):
                delivered.append((_time(fields["at"]), key[len(HIT) :].decode()))
            else:
                raise ValueError("not an entry of share")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            log.error("%s: entry %r unreadable (%s); forgotten", STATE_TOPIC, key, error)
    memory = ShareMemory(window)
    for at, seen, name in sorted(alerts):
        memory.alerts.remember(name, at, seen)
    for at, hit_id in sorted(delivered):
        memory.delivered.remember(hit_id, at)
    return memory


class ShareHandler(Handler):
    """A batch of hits -> deliveries, audit events, dead letters, memory changes."""

    def __init__(
        self,
        ctx: Context,
        ensure: Callable[[TopicSpec], object] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ctx = ctx
        self.clock = clock
        self.window = timedelta(seconds=ctx.settings.hit_suppression_seconds)
        self.memory: dict[int, ShareMemory] = {}
        self._ensure = ensure or (lambda spec: ensure_topics(ctx.settings, [spec], align=False))
        self._partner_topics: set[str] = set()

    def restore(self, partition: int, entries: Mapping[bytes, bytes]) -> None:
        self.memory[partition] = restored_memory(self.window, entries)

    def revoke(self, partition: int) -> None:
        self.memory.pop(partition, None)

    def _memory(self, partition: int) -> ShareMemory:
        memory = self.memory.get(partition)
        if memory is None:
            memory = self.memory[partition] = ShareMemory(self.window)
        return memory

    def process(self, batch: Sequence[Received]) -> Work:
        now = self.clock()
        work = Work()
        tally = Tally()
        for record in batch:
            tally.outcomes[self._share(record, now, work, tally)] += 1
        for partition in sorted({record.partition for record in batch}):
            work.state.extend(memory_changes(partition, self._memory(partition)))
        work.on_commit.append(tally.count)
        return work

    def suppression_entries(self) -> int:
        """Recent alerts remembered, all partitions (read at scrape time)."""
        return sum(len(memory.alerts) for memory in list(self.memory.values()))

    def tick(self, partitions: Sequence[int]) -> Work:
        now = self.clock()
        work = Work()
        for partition in partitions:
            memory = self._memory(partition)
            memory.expire(now)
            work.state.extend(memory_changes(partition, memory))
        return work

    def _share(self, record: Received, now: datetime, work: Work, tally: Tally) -> str:
        """Adds what one hit becomes to ``work``; returns its outcome."""
        try:
            with metrics.timed(share.STAGE):
                hit = Hit.decode(self.ctx.codec, record.value)
                deliveries = share.deliveries(
                    hit, self.ctx.agreements, now, self.ctx.settings.jurisdiction_policies
                )
        except Exception as error:
            if not needs_letter(share.STAGE, error):
                return "expired"
            work.records.append(self._letter(record, error, now))
            tally.letters.append(error)
            return "dead_letter"
        outcome = self._memory(record.partition).admit(hit, now)
        if outcome != "ok":
            return outcome
        codec, audit = self.ctx.codec, self.ctx.topics.audit
        for delivery in deliveries:
            topic = self._partner_topic(delivery.recipient_ori)
            work.records.append(Outgoing(topic, delivered_hit_key(hit), record.value))
            event = share.dissemination_audit(hit, delivery, now)
            work.records.append(Outgoing(audit, audit_key(event), event.encode(codec)))
            tally.delivered[delivery.recipient_ori] += 1
        if deliveries:
            tally.collected_at.append(hit.read.collected_at)
        return outcome

    def _partner_topic(self, recipient_ori: str) -> str:
        """The recipient's own topic, created once."""
        spec = partner_topic(self.ctx.settings, recipient_ori)
        if spec.name not in self._partner_topics:
            self._ensure(spec)
            self._partner_topics.add(spec.name)
        return spec.name

    def _letter(self, record: Received, error: Exception, now: datetime) -> Outgoing:
        letter = dead_letter(
            stage=share.STAGE,
            error=error,
            now=now,
            worker=self.ctx.worker,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=record.headers,
        )
        return Outgoing(
            self.ctx.topics.deadletter, dead_letter_key(letter), letter.encode(self.ctx.codec)
        )


@dataclass
class Tally:
    """What a batch did, counted once committed: an aborted batch is counted when it is
    done again."""

    outcomes: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    letters: list[Exception] = field(default_factory=list)
    collected_at: list[datetime] = field(default_factory=list)

    def count(self) -> None:
        for outcome, n in self.outcomes.items():
            if outcome != "dead_letter":
                metrics.count(share.STAGE, outcome, n)
        for error in self.letters:
            metrics.dead_lettered(share.STAGE, error)
        for recipient, n in self.delivered.items():
            metrics.HITS_DELIVERED.labels(recipient).inc(n)
        # A delivered hit's read age, once its delivery is visible to the partner.
        metrics.observe_age(share.STAGE, self.collected_at)


class ShareService:
    """The share loop in a thread of the worker process."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.handler = ShareHandler(ctx)
        config = loop_config(ctx.settings)
        self.loop = TransactionalLoop(ctx.settings, config, self.handler)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def adopt_former_offsets(self) -> None:
        """Before anything consumes: where this worker's Faust app shared hits before
        the transactional loop existed (its retired ``hit-alerts`` table's changelog
        still there), the loop's group starts where that share stopped. Taken later,
        the app's offsets would be where its store agent has read the hits to."""
        settings = self.ctx.settings
        former_changelog = f"{self.ctx.worker}-{STATE_TOPIC}-changelog"
        try:
            if former_changelog not in admin_client(settings).list_topics(timeout=15).topics:
                return
            adopted = adopt_group_offsets(settings, self.loop.config, self.ctx.worker)
        except KafkaException as error:
            # A running member of the group (it has offsets already) refuses the commit.
            log.warning("share: the former offsets were not adopted: %s", error)
            return
        for tp in adopted:
            log.info("share: %s partition %d starts at %s's offset %d", tp.topic,
                     tp.partition, self.ctx.worker, tp.offset)  # fmt: skip

    async def start(self) -> None:
        """Once the agreements are loaded (a hit must not miss a partner)."""
        await self.ctx.wait_for_followers()
        if self._stop.is_set():
            return
        self._thread = threading.Thread(target=self._run, name="lprx-share", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.loop.run(self._stop)
        except Exception:
            log.exception("share: the loop stopped")

    def problem(self) -> str | None:
        """For readiness: the loop's thread running and getting on (a step polls for
        ``poll_s``; a transaction may take ``timeout_s``)."""
        if self._thread is None:
            return "not started (waiting for the agreements)"
        if not self._thread.is_alive():
            return "the loop stopped (see the log)"
        config = self.loop.config
        return self.loop.stalled(2 * config.timeout_s + config.poll_s)

    def stop(self) -> None:
        """Finishes the batch in hand (committed or aborted) and leaves the group."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)


def register(wiring: Wiring) -> ShareService:
    service = ShareService(wiring.ctx)
    wiring.before_run(service.adopt_former_offsets)
    wiring.task(service.start)
    wiring.on_shutdown(service.stop)
    metrics.SUPPRESSED_ALERTS.set_function(service.handler.suppression_entries)
    metrics.declare(share.STAGE)
    return service
