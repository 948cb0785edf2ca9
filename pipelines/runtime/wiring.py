"""What an agent module needs of Faust to register itself: raw topics, agents, tasks,
timers, tables behind mirrors, and the app's rebalance and shutdown signals."""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable, ItemsView, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import faust
from confluent_kafka.admin import AdminClient
from faust import streams as faust_streams
from faust.types import EventT, StreamT, TableT, TopicT
from faust.types.tuples import FutureMessage

from connectors.kafka.lag import measure_lag
from connectors.kafka.topics import (
    TopicSpec,
    admin_client,
    bounded_compacted_config,
    ensure_topics,
)
from pipelines.runtime.context import Context, Outgoing
from pipelines.runtime.mirror import TableMirror
from pipelines.settings import Settings
from schemas.errors import SendUnacknowledged

Handler = Callable[[], Awaitable[None] | None]


# RocksDB's budget for each partition of a table. Faust's defaults (64 MiB write
# buffers, 3 of them, a 2 GiB block cache) sized for tables far larger than ours, whose
# values a mirror keeps decoded in memory besides: a worker's RSS grew by 270 MiB over
# the first 300,000 reads of a run before it levelled off.
TABLE_STORE_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 32 * 1024 * 1024,
    "block_cache_compressed_size": 8 * 1024 * 1024,
}


class DeliveredTable(faust.Table[str, Any]):
    """A Faust table whose changelog records can be waited for until Kafka has them.

    Faust sends a table write's changelog record through its producer's buffer, and
    flushes that buffer before committing offsets only until 0.1 s pass without a send
    (``ProducerBuffer.flush_atmost``); once stopping, it raises instead of flushing. So
    on a busy worker the offset of the read that made a write could be committed while
    the write's record was still in the buffer, and lost with the worker: the next
    worker recovered the table without that read, and never saw the read again. An
    agent that writes a table waits for ``changelog_delivered`` before acknowledging.
    """

    _in_flight: set[FutureMessage] | None = None
    _failure: BaseException | None = None

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        sent: FutureMessage = super().send_changelog(*args, **kwargs)
        if self._in_flight is None:
            self._in_flight = set()
        self._in_flight.add(sent)
        sent.add_done_callback(self._delivered)
        return sent

    def _delivered(self, sent: FutureMessage) -> None:
        if self._in_flight is not None:
            self._in_flight.discard(sent)
        if not sent.cancelled() and sent.exception() is not None:
            self._failure = sent.exception()

    async def changelog_delivered(self) -> None:
        """Returns once Kafka has acknowledged every changelog record sent so far;
        raises if one was refused: the table then holds a write its changelog lacks, and
        what made it is never acknowledged (Kafka delivers it again after a restart)."""
        if self._in_flight:
            # asyncio.wait, not gather: a wait cancelled (the worker stopping) must not
            # cancel the records themselves, which Kafka may still acknowledge.
            await asyncio.wait(set(self._in_flight))
        if self._failure is not None:
            raise SendUnacknowledged(
                f"table {self.name}: Kafka refused a changelog record: "
                f"{type(self._failure).__name__}: {self._failure}"
            ) from self._failure


class JsonValues(MutableMapping[str, Any]):
    """A table whose values are JSON bytes, read and written as JSON values.

    Each value is encoded once, here: with Faust's json serializer a write is encoded
    twice (the local store's copy and the changelog record), through Faust's codec
    registry each time. The bytes are JSON as before, so a changelog or a local store
    written by Faust's serializer reads the same."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table

    def __getitem__(self, key: str) -> Any:
        return json.loads(self.table[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.table[key] = json.dumps(value, separators=(",", ":")).encode()

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def items(self) -> ItemsView[str, Any]:
        """Every entry decoded; one that is not JSON is handed on as its bytes, which no
        layout reads, so a mirror forgets that entry alone (``TableMirror.reload``)."""
        return {key: _json_or_bytes(value) for key, value in self.table.items()}.items()


def _json_or_bytes(value: bytes) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def raw_topic(app: faust.App, name: str) -> TopicT:
    """Agents consume and produce bytes; decoding is the guard's (never Faust's, whose
    decode errors drop the message)."""
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


@contextmanager
def within_event(event: EventT[Any]) -> Iterator[None]:
    """Code run as inside ``event``: Faust writes a table key to the changelog partition
    of the current stream event, which an agent taking batches must name itself."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


class FaustOutbox:
    """The Outbox of a worker: one raw Faust topic per name, created on first use."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self._settings = settings
        self._topics: dict[str, TopicT] = {}

    def topic(self, name: str) -> TopicT:
        if name not in self._topics:
            self._topics[name] = raw_topic(self.app, name)
        return self._topics[name]

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int | None = None
    ) -> None:
        await self.topic(topic).send(key=key, value=value, partition=partition)

    async def send_acknowledged(self, records: Sequence[Outgoing]) -> None:
        # Faust's send returns once the record is queued; its result is the delivery.
        try:
            deliveries = [await self.topic(r.topic).send(key=r.key, value=r.value) for r in records]
            await asyncio.gather(*deliveries)
        except Exception as error:
            topics = sorted({r.topic for r in records})
            raise SendUnacknowledged(
                f"Kafka did not acknowledge {len(records)} records to {topics}: "
                f"{type(error).__name__}: {error}"
            ) from error

    async def ensure(self, spec: TopicSpec) -> None:
        # An admin call, off the event loop.
        await asyncio.to_thread(partial(ensure_topics, self._settings, [spec], align=False))


class Wiring:
    """The Faust app of one worker, and the context its agents share."""

    def __init__(self, app: faust.App, outbox: FaustOutbox, ctx: Context) -> None:
        self.app = app
        self.outbox = outbox
        self.ctx = ctx
        # Kept too for a worker without agents, which runs without Faust (app.py).
        self.tasks: list[Callable[[], Awaitable[None]]] = []
        self.shutdown: list[Callable[[], None]] = []
        self.preparations: list[Callable[[], None]] = []
        self._admin: AdminClient | None = None

    def agent(
        self, topic: str, name: str, consume: Callable[[StreamT[bytes]], Awaitable[None]]
    ) -> None:
        self.app.agent(self.outbox.topic(topic), name=name)(consume)

    def before_run(self, prepare: Callable[[], None]) -> None:
        """``prepare()`` once, before the worker starts consuming (Pipeline.run)."""
        self.preparations.append(prepare)

    def task(self, start: Callable[[], Awaitable[None]]) -> None:
        """``start()`` once, when the worker is up (its tables recovered)."""
        self.tasks.append(start)
        self.app.task(start)

    def timer(self, interval: float, name: str, tick: Callable[[], Awaitable[None]]) -> None:
        self.app.timer(interval, name=name)(tick)

    def on_rebalance(self, handler: Handler) -> None:
        """``handler()`` when partitions are revoked and when they are assigned."""

        async def receive(_sender: Any, /, *_args: Any, **_kwargs: Any) -> None:
            result = handler()
            if result is not None:
                await result

        self.app.on_partitions_revoked.connect(receive)
        self.app.on_partitions_assigned.connect(receive)

    def on_revoked_or_shutdown(self, handler: Callable[[], Awaitable[None]]) -> None:
        """``handler()`` when partitions go elsewhere, and before a clean stop."""

        async def receive(_sender: Any, /, *_args: Any, **_kwargs: Any) -> None:
            await handler()

        self.app.on_partitions_revoked.connect(receive)
        self.app.on_before_shutdown.connect(receive)

    def on_shutdown(self, handler: Callable[[], None]) -> None:
        self.shutdown.append(handler)

        def receive(_sender: Any, /, *_args: Any, **_kwargs: Any) -> None:
            handler()

        self.app.on_before_shutdown.connect(receive)

    def table(self, name: str) -> DeliveredTable:
        """A Faust table with JSON keys and values of bytes (JSON, through
        ``JsonValues``), one partition per topic partition; its changelog keeps nothing
        past the transport bound (bounded_compacted_config). What ``app.Table`` does,
        with the table class that can wait for its changelog."""
        table = DeliveredTable(
            self.app,
            name=name,
            beacon=self.app.tables.beacon,
            partitions=self.ctx.settings.topic_partitions,
            # Faust picks a table's serializers from these types (bytes: raw), not
            # from a schema.
            key_type=str,
            value_type=bytes,
            extra_topic_configs=bounded_compacted_config(self.ctx.settings),
            # A copy each: Faust's store pops its own keys from the dict it is given.
            options=dict(TABLE_STORE_OPTIONS),
        )
        self.app.tables.add(table)
        return table

    async def committed_positions(self, topic: str) -> dict[int, tuple[int, int]]:
        """Partition -> (where this worker's group's commits stand, the end offset), for
        every partition of ``topic``, asked of Kafka now (``connectors/kafka/lag.py``; a
        partition never committed stands at its first offset)."""
        if self._admin is None:
            client = f"{self.app.conf.id}-positions"
            self._admin = admin_client(self.ctx.settings, **{"client.id": client})
        measure = partial(measure_lag, self._admin, self.app.conf.id, [topic])
        lags = await self.ctx.run_blocking(measure)
        return {lag.partition: (lag.position, lag.end) for lag in lags}

    def keep_current(self, table: TableT[str, Any], mirror: TableMirror[Any, Any, Any]) -> None:
        """The mirror is forgotten on every rebalance and decoded again once the table
        is recovered from its changelog."""
        self.on_rebalance(mirror.forget)

        async def recovered() -> None:
            # Recovered, entries written before a restart or a rebalance included.
            mirror.reload()

        table.on_recover(recovered)
