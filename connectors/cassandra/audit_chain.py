"""The audit trail's chained write: each agency's events linked by hash, in order.

The store agent is the one writer of an agency's chain: the audit topic is keyed by the
acting agency (``schemas.keys.audit_key``), so one partition, so one consumer, holds an
agency's events in order, whichever producer (ingest, share, CLI, API) wrote them.
Chaining at the producers would need every producer to agree on each agency's head,
which several processes cannot do without a lock; here the order is the partition's.

A batch of a chain's new events is claimed first, by one compare-and-set of the chain's
head (``audit_chain_heads``: ``IF seq = <the head this writer knows>``): a second writer
(a worker that lost its partition and has not noticed) fails the compare, reloads the
head and finds the events already chained, so a chain never forks. The claimed links
are kept in the head's ``pending`` until their rows are written: after a crash, the
redelivered events find their claimed place there and take it, and an event already
written (``audit_chain_events``, by event id) is never chained again. Rows go in the
order ``audit_events``, ``audit_chain``, ``audit_chain_events``; the last says "done".
The audit tables are append-only (the trigger), so a rewrite of a row already there is
refused. The trigger says whether the row it holds has the same values: then it is what it
is, the same row written before (``already_stored``); with other values it is a failure
(dead-lettered). A trigger built before it said so refuses both alike, and both are then
taken as written before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import PreparedStatement

from connectors.cassandra.rows import AUDIT_COLUMNS, audit_day, audit_row
from connectors.cassandra.session import TUPLE_ROWS, map_exceptions, store_error
from connectors.cassandra.writes import (
    ALREADY_HOLDS,
    ALREADY_STORED,
    OTHER_VALUES,
    STORED,
    RowOutcome,
    insert_cql,
)
from schemas.audit_chain import GENESIS, Link, chain_of, extend
from schemas.errors import StoreUnavailable, TransientError
from schemas.records import AuditEvent, utcnow

MAX_CLAIM_ATTEMPTS = 8
_ALREADY_THERE = "overwrite an existing row"

# (seq, link hash, chain day) of a claimed link whose rows are not all written yet.
Pending = tuple[int, bytes, str]


def chain_day_key(chain: str, day: str) -> str:
    return f"{chain}/{day}"


@dataclass
class Head:
    """A chain's last claimed link, as this writer knows it."""

    chain: str
    seq: int = 0
    link_hash: bytes = GENESIS
    chain_day: str = ""
    pending: dict[str, Pending] = field(default_factory=dict)
    stored: bool = False  # whether the head row exists (first claim inserts it)


class AuditChains:
    """Chains and writes audit events; one per store (so per worker process)."""

    def __init__(self, session: Session, ks: str, concurrency: int) -> None:
        self._session = session
        self._concurrency = concurrency
        self._heads: dict[str, Head] = {}
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            self._insert_event = prepare(insert_cql(ks, "audit_events", AUDIT_COLUMNS, ttl=False))
            self._insert_link = prepare(
                f"INSERT INTO {ks}.audit_chain (chain_day_key, seq, event_id, event_day, "
                "occurred_at, link_hash) VALUES (?, ?, ?, ?, ?, ?)"
            )
            self._insert_done = prepare(
                f"INSERT INTO {ks}.audit_chain_events (event_id, chain, seq, chain_day) "
                "VALUES (?, ?, ?, ?)"
            )
            self._chained = prepare(
                f"SELECT event_id FROM {ks}.audit_chain_events WHERE event_id = ?"
            )
            self._head = prepare(
                f"SELECT seq, link_hash, chain_day, pending FROM {ks}.audit_chain_heads "
                "WHERE chain = ?"
            )
            self._first_claim = prepare(
                f"INSERT INTO {ks}.audit_chain_heads (chain, seq, link_hash, chain_day, pending) "
                "VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"
            )
            self._claim = prepare(
                f"UPDATE {ks}.audit_chain_heads SET seq = ?, link_hash = ?, chain_day = ?, "
                "pending = ? WHERE chain = ? IF seq = ?"
            )

    def write(self, events: Sequence[AuditEvent], now: datetime | None = None) -> list[RowOutcome]:
        """Chains and stores each event not chained before; one outcome per event. A
        transient failure raises ``StoreUnavailable``: the caller retries the batch, and
        what was claimed or written is found again, not chained twice."""
        day = audit_day(now or utcnow())
        outcomes = [STORED] * len(events)
        done = self._already_chained([e.event_id for e in events])
        by_chain: dict[str, list[int]] = {}
        seen: set[str] = set()
        for i, event in enumerate(events):
            if event.event_id in done or event.event_id in seen:
                continue  # a redelivery: chained once already
            seen.add(event.event_id)
            by_chain.setdefault(chain_of(event), []).append(i)
        for chain, indexes in by_chain.items():
            written = self._write_chain(chain, [events[i] for i in indexes], day)
            for i in indexes:
                # Absent: another writer chained it meanwhile (so it is stored).
                outcomes[i] = written.get(events[i].event_id, STORED)
        return outcomes

    def _write_chain(self, chain: str, events: list[AuditEvent], day: str) -> dict[str, RowOutcome]:
        """The outcome of each event this writer wrote, by event id."""
        for _ in range(MAX_CLAIM_ATTEMPTS):
            head = self._heads.get(chain) or self._load_head(chain)
            placed: dict[str, Pending] = {}
            fresh = [e for e in events if e.event_id not in head.pending]
            for event in events:
                if event.event_id in head.pending:
                    placed[event.event_id] = head.pending[event.event_id]
            if fresh:
                links = extend(chain, head.seq, head.link_hash, fresh)
                if not self._claim_links(head, links, day):
                    # Another writer moved the head: learn it, and what it wrote.
                    self._heads.pop(chain, None)
                    done = self._already_chained([e.event_id for e in events])
                    events = [e for e in events if e.event_id not in done]
                    if not events:
                        return {}
                    continue
                placed.update({link.event_id: (link.seq, link.link_hash, day) for link in links})
            outcomes = self._write_rows(chain, head, events, placed)
            return {e.event_id: o for e, o in zip(events, outcomes, strict=True)}
        raise StoreUnavailable(f"the head of audit chain {chain} kept moving; retrying later")

    def _claim_links(self, head: Head, links: list[Link], day: str) -> bool:
        """Moves the head past ``links`` by compare-and-set; False if it had moved."""
        last = links[-1]
        pending = dict(head.pending)
        pending.update({link.event_id: (link.seq, link.link_hash, day) for link in links})
        with map_exceptions("audit chain claim"):
            if head.stored:
                result = self._session.execute(
                    self._claim, (last.seq, last.link_hash, day, pending, head.chain, head.seq)
                )
            else:
                result = self._session.execute(
                    self._first_claim, (head.chain, last.seq, last.link_hash, day, pending)
                )
        if not result.was_applied:
            return False
        head.seq, head.link_hash, head.chain_day = last.seq, last.link_hash, day
        head.pending, head.stored = pending, True
        self._heads[head.chain] = head
        return True

    def _write_rows(
        self, chain: str, head: Head, events: list[AuditEvent], placed: dict[str, Pending]
    ) -> list[RowOutcome]:
        """Each event's three rows, one table at a time (each table's rows concurrently),
        so an event is marked done only once its other rows are in; a row already there
        counts as written."""
        outcomes = [STORED] * len(events)
        phases: list[list[tuple[PreparedStatement, tuple[Any, ...]]]] = [[], [], []]
        for event in events:
            seq, link, chain_day = placed[event.event_id]
            phases[0].append((self._insert_event, audit_row(event)))
            phases[1].append(
                (
                    self._insert_link,
                    (
                        chain_day_key(chain, chain_day),
                        seq,
                        event.event_id,
                        audit_day(event.occurred_at),
                        event.occurred_at,
                        link,
                    ),
                )
            )
            phases[2].append((self._insert_done, (event.event_id, chain, seq, chain_day)))
        for jobs in phases:
            pending = [i for i, outcome in enumerate(outcomes) if outcome.ok]
            for i, outcome in zip(pending, self._run([jobs[i] for i in pending]), strict=True):
                outcomes[i] = outcome
        for event in events:
            # Written, or refused for good (dead-lettered; verify names the gap).
            head.pending.pop(event.event_id, None)
        return outcomes

    def _run(self, jobs: list[tuple[PreparedStatement, tuple[Any, ...]]]) -> list[RowOutcome]:
        if not jobs:
            return []
        with map_exceptions("audit write"):
            results = execute_concurrent(
                self._session, jobs, concurrency=self._concurrency, raise_on_first_error=False
            )
        return [STORED if ok else self._outcome(result) for ok, result in results]

    @staticmethod
    def _outcome(error: BaseException) -> RowOutcome:
        if isinstance(error, InvalidRequest):
            said = str(error)
            if ALREADY_HOLDS in said:
                return ALREADY_STORED
            if _ALREADY_THERE in said and OTHER_VALUES not in said:
                return ALREADY_STORED  # an older trigger, which does not compare
        mapped = store_error(error, "audit write")
        if isinstance(mapped, TransientError):
            raise mapped from error
        return RowOutcome(False, f"{type(error).__name__}: {error}")

    def _already_chained(self, event_ids: list[str]) -> set[str]:
        if not event_ids:
            return set()
        jobs = [(self._chained, (event_id,)) for event_id in event_ids]
        with map_exceptions("audit chain read"):
            results = execute_concurrent(
                self._session, jobs, concurrency=self._concurrency, raise_on_first_error=True
            )
        return {eid for eid, (_ok, rows) in zip(event_ids, results, strict=True) if rows.one()}

    def _load_head(self, chain: str) -> Head:
        """The chain's head as Cassandra keeps it; of its pending links, those whose rows
        are all written are done, the others wait for their redelivered events."""
        with map_exceptions("audit chain read"):
            row = self._session.execute(self._head, (chain,), execution_profile=TUPLE_ROWS).one()
        if row is None:
            return Head(chain)
        seq, link_hash, chain_day, pending = row
        waiting = {eid: (p[0], bytes(p[1]), p[2]) for eid, p in (pending or {}).items()}
        for event_id in self._already_chained(list(waiting)):
            del waiting[event_id]
        return Head(chain, seq, bytes(link_hash), chain_day, waiting, stored=True)
