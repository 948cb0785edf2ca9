"""The one guard every agent runs its records through: no exception escapes an agent.

An exception that leaves a Faust agent crashes it, and Faust has already acknowledged
the event, so the record would be lost. Here every outcome is data, decided in one place
(``Guard.failed``):

    RetentionExpired      counted ``expired``; nothing is kept, by law (no dead letter)
    DecodeError           a dead letter with the original bytes, headers, source offset,
    PermanentError          the stage and the reason; the stream goes on
    TransientError        transient (Cassandra down, a send Kafka did not acknowledge):
                            the agent holds its partition, backs off (0.5 s,
                            doubling, at most 30 s), counts ``retry`` and tries again
    anything else         a bug: logged with its traceback, then dead-lettered

``step`` runs a plain function (decode, a stage function) and is what the stage latency
measures, once per record (a batched stage's guard, ``times_steps=False``, leaves that
to ``metrics.timed_batch`` around its batch); ``run`` runs an agent's whole handling of
one event; ``retrying``/``store`` run one store call (timed as ``lprx_store_call_ms``).
A record the worker made itself (a fused OCR read) has no event: its ``Origin`` names
the bytes to keep instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from faust.types import EventT

from pipelines import metrics
from schemas import DecodeError
from schemas.deadletter import dead_letter
from schemas.errors import PermanentError, TransientError
from schemas.records import utcnow
from schemas.retention import RetentionExpired

if TYPE_CHECKING:
    from connectors.cassandra import CassandraStore
    from pipelines.runtime.context import Context

log = logging.getLogger(__name__)

T = TypeVar("T")
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


def _headers(headers: Any) -> dict[str, bytes]:
    """Kafka headers as a dict, whichever shape the client handed them over in."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return {str(k): v if isinstance(v, bytes) else str(v).encode() for k, v in pairs}


@dataclass(frozen=True)
class Origin:
    """Where a record came from, as a dead letter keeps it."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    value: bytes | None = None
    headers: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, event: EventT[Any]) -> Origin:
        message = event.message
        return cls(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=_headers(message.headers),
        )


Source = EventT[Any] | Origin | Callable[[], Origin]
"""An event, or where a record the worker made came from (built only when needed)."""


def _resolve(source: Source) -> Origin:
    try:
        if isinstance(source, Origin):
            return source
        if callable(source):
            return source()
        return Origin.of(source)
    except Exception:
        log.exception("origin of a failed record unknown")
        return Origin()


def needs_letter(stage: str, error: Exception) -> bool:
    """Whether a record that failed with ``error`` becomes a dead letter (the rule of
    the module docstring): not one past its destruction date, which the law says to
    keep nothing of; every other one, a bug logged first."""
    if isinstance(error, RetentionExpired):
        log.info("%s: read refused, %s", stage, error)
        return False
    if not isinstance(error, DecodeError | PermanentError):
        # A bug must not stop the stream; the letter keeps the bytes.
        log.error("%s: unexpected error", stage, exc_info=error)
    return True


class Guard:
    """One stage's guard: its name labels the counts, the latencies and the letters."""

    def __init__(self, ctx: Context, stage: str, *, times_steps: bool = True) -> None:
        self.ctx = ctx
        self.stage = stage
        self.times_steps = times_steps
        metrics.declare(stage)

    async def step(self, source: Source, fn: Callable[[], T]) -> T | None:
        """``fn()``, timed as one record's latency; None if it failed (handled)."""
        try:
            if not self.times_steps:
                return fn()
            with metrics.timed(self.stage):
                return fn()
        except Exception as error:
            await self.failed([source], error)
        return None

    async def run(self, source: Source, work: Callable[[], Awaitable[T]]) -> T | None:
        """``await work()`` for one record; None if it failed (the failure handled).
        Store outages that reach here run ``work`` again: work that sends something
        before a store call wraps that call in ``store``/``retrying`` instead."""
        return await self.run_batch([source], work)

    async def run_batch(
        self, sources: Sequence[Source], work: Callable[[], Awaitable[T]]
    ) -> T | None:
        """``run`` for work over several records: each of them shares its failure."""
        delay = BACKOFF_FIRST_S
        while True:
            try:
                return await work()
            except TransientError as error:
                delay = await self._back_off(error, delay)
            except Exception as error:
                await self.failed(sources, error)
                return None

    async def attempt(self, work: Callable[[], Awaitable[object]]) -> bool:
        """``await work()``, tried again while the failure is transient; False if it
        failed otherwise (logged), for the caller to try its records one by one."""
        delay = BACKOFF_FIRST_S
        while True:
            try:
                await work()
                return True
            except TransientError as error:
                delay = await self._back_off(error, delay)
            except Exception:
                log.warning("%s: batch failed; its records one by one", self.stage, exc_info=True)
                return False

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()``, timed as a store call, until the store takes it: an outage
        holds the agent (and so its partitions) instead of failing the records."""
        delay = BACKOFF_FIRST_S
        while True:
            try:
                with metrics.timed_store_call(self.stage):
                    return await call()
            except TransientError as error:
                delay = await self._back_off(error, delay)

    async def store(self, fn: Callable[[CassandraStore], T]) -> T:
        """``fn(store)`` on the blocking executor, retried while the store is down."""

        async def call() -> T:
            store = await self.ctx.store()
            return await self.ctx.run_blocking(partial(fn, store))

        return await self.retrying(call)

    async def _back_off(self, error: TransientError, delay: float) -> float:
        metrics.retried(self.stage)
        log.warning("%s: %s; retrying in %.1f s", self.stage, error, delay)
        await asyncio.sleep(delay)
        return min(delay * 2, BACKOFF_MAX_S)

    async def failed(self, sources: Sequence[Source], error: Exception) -> None:
        """What becomes of records that failed with ``error``; never raises."""
        if not needs_letter(self.stage, error):
            metrics.count(self.stage, "expired", len(sources))
            return
        for source in sources:
            await self.dead_letter(source, error)

    async def dead_letter(self, source: Source, error: BaseException) -> None:
        """Sends ``source`` to the dead-letter topic; if even that fails, sends it
        without its original value (too large, say), and if that fails, logs it."""
        origin = _resolve(source)
        metrics.dead_lettered(self.stage, error)
        try:
            await self._send_letter(origin, error)
        except Exception as first:
            log.error("%s: dead letter not sent", self.stage, exc_info=first)
            reason = f"{error} (original value dropped: {type(first).__name__}: {first})"
            try:
                await self._send_letter(dataclasses.replace(origin, value=None), error, reason)
            except Exception as second:
                metrics.count(self.stage, "dead_letter_failed")
                log.error(
                    "%s: record lost (%s[%s] offset %s)",
                    self.stage, origin.topic, origin.partition, origin.offset,
                    exc_info=second,
                )  # fmt: skip

    async def _send_letter(
        self, origin: Origin, error: BaseException, reason: str | None = None
    ) -> None:
        letter = dead_letter(
            stage=self.stage,
            error=error,
            now=utcnow(),
            worker=self.ctx.worker,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            key=origin.key,
            value=origin.value,
            headers=origin.headers,
        )
        if reason is not None:
            letter = dataclasses.replace(letter, reason=reason)
        await self.ctx.send_dead_letter(letter)
