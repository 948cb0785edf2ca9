"""Replay dead letters once their cause is fixed: `lprx deadletters replay`.

A dead letter keeps the original bytes, key and headers of the record a stage refused,
and the topic it was consumed from (the stage's input). Replaying republishes those to
that topic, so the stage sees the record again as it first did. What is replayed:

- the letters that match the filters (stage, a reason substring, a time range), that
  kept their original bytes, came from one of this deployment's pipeline topics (an
  ingest letter is an HTTP body the camera was told to resend, not a record), and
- that were not replayed before. Each letter replayed is marked, once Kafka has
  acknowledged its republished copy, on the compacted ``deadletter.replayed`` topic, one
  key per letter (``<partition>:<offset>``). A consumer group's committed offset would be a
  watermark: a filtered replay would pass over the letters it did not select, and they
  could never be replayed later. A run killed between a republish and its marker
  replays that letter again (at least once; the stages take a record twice safely).

Without ``apply`` it only counts (the default: a dry run). Reading dead letters is an
audited access (they hold reads); a replay is audited again, before anything is sent,
naming who replayed how many letters with which filters. It runs as its own Kafka
principal, ``lprx-replay`` (``connectors/kafka/acls.py``): read the dead letters and
markers, write the pipeline's input topics, the markers and the audit trail; nothing else.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import KafkaError, Message

from connectors.kafka.acls import REPLAY_TARGETS
from connectors.kafka.audit import AuditWriter
from connectors.kafka.reader import read_topic
from connectors.kafka.topics import make_producer
from pipelines.services.scope import PersonAccess
from pipelines.settings import Settings
from schemas import DecodeError, codec_for
from schemas.errors import TransientError
from schemas.people import Principal, Role
from schemas.records import AuditAction, AuditEvent, AuditOutcome, DeadLetter, new_id, utcnow

MARKERS_TOPIC = "deadletter.replayed"
REPLAYED_HEADER = "lprx-replayed-from"
MAX_LETTERS = 10_000_000

OnDelivery = Callable[[KafkaError | None, Message], None]


MIN_REASON_LENGTH = 10


@dataclass(frozen=True)
class ReplayFilter:
    """Which letters: all of them unless narrowed (times are the letters' own)."""

    stage: str | None = None
    reason: str | None = None
    """A part of the reason, in any case."""
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        at = letter.occurred_at
        return (
            (self.stage is None or letter.stage == self.stage)
            and (self.reason is None or self.reason.lower() in letter.reason.lower())
            and (self.since is None or at >= self.since)
            and (self.until is None or at < self.until)
        )

    def describe(self) -> dict[str, str]:
        named = {"stage": self.stage, "reason": self.reason,
                 "since": self.since and self.since.isoformat(),
                 "until": self.until and self.until.isoformat()}  # fmt: skip
        return {k: v for k, v in named.items() if v}


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter where it lies on the dead-letter topic."""

    partition: int
    offset: int
    letter: DeadLetter

    @property
    def marker(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass
class ReplayPlan:
    selected: list[StoredLetter] = field(default_factory=list)
    already_replayed: int = 0
    not_replayable: Counter[str] = field(default_factory=Counter)
    """Why a matching letter cannot be replayed -> how many."""

    def by_stage_and_topic(self) -> Counter[tuple[str, str]]:
        return Counter((s.letter.stage, s.letter.source_topic or "") for s in self.selected)


def plan_replay(
    letters: Iterable[StoredLetter],
    replayed: set[str],
    wanted: ReplayFilter,
    input_topics: set[str],
) -> ReplayPlan:
    """The letters to replay, and why the other matching ones are not."""
    plan = ReplayPlan()
    for stored in letters:
        letter = stored.letter
        if not wanted.matches(letter):
            continue
        if stored.marker in replayed:
            plan.already_replayed += 1
        elif letter.original_value is None:
            plan.not_replayable["original bytes not kept"] += 1
        elif letter.source_topic not in input_topics:
            plan.not_replayable["no pipeline topic to go back to"] += 1
        else:
            plan.selected.append(stored)
    return plan


@dataclass(frozen=True)
class ReplayReport:
    plan: ReplayPlan
    applied: bool
    replayed: int = 0
    undecodable: int = 0


def local_operator(settings: Settings, os_user: str) -> Principal:
    """Who replays: the operator at the host that holds the replay principal's
    credentials, named by the OS login (as ``lprx audit checkpoint`` is)."""
    return Principal(
        f"os:{os_user}", settings.api_consortium_ori, frozenset({Role.OPERATOR}), via="local"
    )


def replay_dead_letters(
    settings: Settings,
    trail: AuditWriter,
    operator: Principal,
    reason: str,
    wanted: ReplayFilter,
    *,
    apply: bool = False,
    timeout_s: float = 30.0,
) -> ReplayReport:
    """Counts (and with ``apply`` replays) the dead letters ``wanted`` selects. The
    operator gives the reason (the incident, the fix); without one nothing is read."""
    topic = settings.topic("deadletter")
    access = PersonAccess(trail, operator, "topic", topic, None, {"reason": reason.strip()[:200]})
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise access.deny(f"a reason of at least {MIN_REASON_LENGTH} characters is required")
    access.open(justified=False)
    codec = codec_for(settings.schema_registry_url)
    stored: list[StoredLetter] = []
    undecodable = 0
    for message in read_topic(settings, topic, max_messages=MAX_LETTERS, timeout_s=timeout_s):
        try:
            letter = DeadLetter.decode(codec, message.value())
        except DecodeError:
            undecodable += 1
            continue
        stored.append(StoredLetter(message.partition() or 0, message.offset() or 0, letter))
    replayed = _markers(settings, timeout_s)
    inputs = {settings.topic(name) for name in REPLAY_TARGETS}
    plan = plan_replay(stored, replayed, wanted, inputs)
    access.shown(letter.marker for letter in plan.selected)
    if not apply or not plan.selected:
        return ReplayReport(plan, applied=apply, undecodable=undecodable)
    trail.record_acknowledged(_replay_event(operator, reason, topic, wanted, len(plan.selected)))
    done = _republish(settings, operator, plan.selected, timeout_s)
    if done < len(plan.selected):
        raise TransientError(
            f"Kafka acknowledged {done} of {len(plan.selected)} replayed letters; the "
            "others are not marked and a later replay sends them"
        )
    return ReplayReport(plan, applied=True, replayed=done, undecodable=undecodable)


def _markers(settings: Settings, timeout_s: float) -> set[str]:
    topic = settings.topic(MARKERS_TOPIC)
    messages = read_topic(settings, topic, max_messages=MAX_LETTERS, timeout_s=timeout_s)
    # Compacted, but read before compaction too: a tombstone would un-mark (none is written).
    marks: dict[str, bool] = {}
    for message in messages:
        key = (message.key() or b"").decode()
        marks[key] = message.value() is not None
    return {key for key, marked in marks.items() if marked}


def _replay_event(
    operator: Principal, reason: str, topic: str, wanted: ReplayFilter, letters: int
) -> AuditEvent:
    return AuditEvent(
        event_id=new_id(),
        occurred_at=utcnow(),
        actor=operator.username,
        actor_agency_ori=operator.agency_ori,
        action=AuditAction.OTHER,
        purpose=reason,
        target_kind="deadletter-replay",
        target_id=topic,
        outcome=AuditOutcome.SUCCESS,
        details={"operation": "replay", "letters": str(letters), **wanted.describe()},
    )


def _republish(
    settings: Settings, operator: Principal, letters: Sequence[StoredLetter], timeout_s: float
) -> int:
    """Each letter's original record back to its topic, then a marker for each one Kafka
    acknowledged; returns how many are marked."""
    producer = make_producer(settings, "lprx-replay")
    delivered: list[StoredLetter] = []

    def on_delivery(stored: StoredLetter) -> OnDelivery:
        def done(error: KafkaError | None, _message: Message) -> None:
            if error is None:
                delivered.append(stored)

        return done

    for stored in letters:
        letter = stored.letter
        headers: Mapping[str, bytes] = {**letter.original_headers,
                                        REPLAYED_HEADER: stored.marker.encode()}  # fmt: skip
        producer.produce(
            letter.source_topic or "",
            key=letter.original_key,
            value=letter.original_value,
            headers=list(headers.items()),
            on_delivery=on_delivery(stored),
        )
        producer.poll(0)
    producer.flush(timeout_s)
    marked: list[StoredLetter] = []

    def on_marked(stored: StoredLetter) -> OnDelivery:
        def done(error: KafkaError | None, _message: Message) -> None:
            if error is None:
                marked.append(stored)

        return done

    at = utcnow().isoformat()
    for stored in delivered:
        value = {"at": at, "by": operator.username, "topic": stored.letter.source_topic}
        producer.produce(
            settings.topic(MARKERS_TOPIC),
            key=stored.marker.encode(),
            value=json.dumps(value).encode(),
            on_delivery=on_marked(stored),
        )
    producer.flush(timeout_s)
    return len(marked)
