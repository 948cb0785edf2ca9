"""Store batches written side by side: acknowledged (so committed) only once stored, in
the order taken; a batch held through an outage holds every batch after it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from connectors.cassandra import RowOutcome
from pipelines.runtime.in_flight import Coalesced, InOrder
from pipelines.runtime.store import hits_sink, reads_sink
from schemas.errors import StoreUnavailable
from schemas.records import PlateRead
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    Counts,
    Event,
    FakeStore,
    TakenStream,
    context,
    event,
    fresh_read,
    run,
)


def test_batches_done_out_of_order_are_acknowledged_in_order() -> None:
    async def scenario() -> list[int]:
        acknowledged: list[int] = []
        gates = [asyncio.Event() for _ in range(3)]
        started: list[int] = []

        async def write(i: int) -> None:
            started.append(i)
            await gates[i].wait()

        def ack(i: int) -> Any:
            async def done() -> None:
                acknowledged.append(i)

            return done

        batches = InOrder(3)
        await batches.add(write(0), ack(0))
        await batches.add(write(1), ack(1))
        await asyncio.sleep(0)
        assert started == [0, 1]  # both in flight at once
        gates[1].set()
        await asyncio.sleep(0.01)
        assert acknowledged == []  # the second is done, but the first is not yet
        adding = asyncio.ensure_future(batches.add(write(2), ack(2)))
        await asyncio.sleep(0.01)
        assert not adding.done()  # three in flight: the taking of a fourth waits
        gates[0].set()
        await adding
        await asyncio.sleep(0.01)
        assert acknowledged == [0, 1]
        gates[2].set()
        await batches.drain()
        return acknowledged

    assert run(scenario()) == [0, 1, 2]


def test_one_in_flight_acknowledges_each_batch_before_the_next_is_taken() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []

        async def write() -> None:
            log.append("written")

        async def ack() -> None:
            log.append("acknowledged")

        batches = InOrder(1)
        await batches.add(write(), ack)
        log.append("next taken")
        return log

    assert run(scenario()) == ["written", "acknowledged", "next taken"]


def test_the_last_batch_of_a_burst_is_acknowledged_without_another_batch_taken() -> None:
    """Faust's take waits for the next event without yielding: the acknowledgement of a
    batch written cannot wait for the next ``add``."""

    async def scenario() -> list[int]:
        acknowledged: list[int] = []

        async def write() -> None:
            await asyncio.sleep(0.01)

        def ack(i: int) -> Any:
            async def done() -> None:
                acknowledged.append(i)

            return done

        batches = InOrder(3)
        await batches.add(write(), ack(0))
        await batches.add(write(), ack(1))
        for _ in range(100):  # no add, no drain: the batches acknowledge themselves
            if len(acknowledged) == 2:
                break
            await asyncio.sleep(0.01)
        return acknowledged

    assert run(scenario()) == [0, 1]


def test_a_write_that_raises_is_not_acknowledged_nor_anything_after_it() -> None:
    async def scenario() -> list[int]:
        acknowledged: list[int] = []

        async def broken() -> None:
            raise RuntimeError("a bug")

        async def fine() -> None:
            pass

        async def ack_second() -> None:
            acknowledged.append(1)

        async def ack_first() -> None:
            acknowledged.append(0)

        batches = InOrder(2)
        await batches.add(broken(), ack_first)
        with pytest.raises(RuntimeError, match="a bug"):
            await batches.add(fine(), ack_second)
        batches.cancel()
        return acknowledged

    assert run(scenario()) == []


def test_coalesced_writes_one_at_a_time_what_came_meanwhile_together() -> None:
    """Dedup's folds: in order, one at a time; the batches taken while one is folded are
    folded next as one, while the taker goes on taking."""

    async def scenario() -> list[str]:
        log: list[str] = []
        gate = asyncio.Event()

        async def write(items: list[str]) -> None:
            log.append(f"write {items}")
            if items == ["a"]:
                await gate.wait()

        async def ack(taken: list[int]) -> None:
            log.append(f"ack {taken}")

        folds: Coalesced[str, int] = Coalesced(write, ack, limit=10)
        await folds.add(["a"], [0])
        await asyncio.sleep(0.01)
        await folds.add(["b"], [1])  # taken while the first is written
        await folds.add([], [2])  # a batch with nothing to fold is acknowledged in turn
        await folds.add(["c", "d"], [3, 4])
        log.append("taken")
        await asyncio.sleep(0.01)
        assert log == ["write ['a']", "taken"]  # the others wait for the first
        gate.set()
        await folds.drain()
        return log

    assert run(scenario())[2:] == [
        "ack [0]",
        "write ['b', 'c', 'd']",
        "ack [1, 2, 3, 4]",
    ]


def test_coalesced_taking_waits_once_limit_records_wait() -> None:
    async def scenario() -> list[list[int]]:
        gate = asyncio.Event()
        acknowledged: list[list[int]] = []

        async def write(items: list[int]) -> None:
            await gate.wait()

        async def ack(taken: list[int]) -> None:
            acknowledged.append(taken)

        folds: Coalesced[int, int] = Coalesced(write, ack, limit=3)
        await folds.add([0], [0])
        await asyncio.sleep(0.01)  # being written: nothing waits
        await folds.add([1, 2], [1, 2])
        adding = asyncio.ensure_future(folds.add([3], [3]))
        await asyncio.sleep(0.01)
        assert not adding.done()  # three taken records wait: the taking of more waits
        gate.set()
        await adding  # the second write took them
        await folds.drain()
        assert len(folds) == 0
        return acknowledged

    assert run(scenario()) == [[0], [1, 2, 3]]


def test_coalesced_write_that_raised_stops_the_ones_after_unacknowledged() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []
        gate = asyncio.Event()

        async def write(items: list[str]) -> None:
            log.append(f"write {items}")
            await gate.wait()
            raise RuntimeError("a bug")

        async def ack(taken: list[int]) -> None:
            log.append("acknowledged")

        folds: Coalesced[str, int] = Coalesced(write, ack, limit=10)
        await folds.add(["a"], [0])
        await asyncio.sleep(0.01)
        await folds.add(["b"], [1])  # waits behind the write that will fail
        gate.set()
        with pytest.raises(RuntimeError, match="a bug"):
            await folds.drain()
        with pytest.raises(RuntimeError, match="a bug"):
            await folds.add(["c"], [2])  # the taker gets the error: the agent stops
        folds.cancel()
        assert len(folds) == 0
        return log

    assert run(scenario()) == ["write ['a']"]


class OutageStore(FakeStore):
    """Down for any batch holding plate ``DOWN``'s read until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = threading.Event()
        self.written: list[list[str]] = []

    def write_reads(self, reads: Sequence[Any], now: Any) -> list[RowOutcome]:
        plates = [read.plate for read in reads]
        if "DOWN" in plates and not self.up.is_set():
            raise StoreUnavailable("Cassandra write failed: down (test)")
        self.written.append(plates)
        return [RowOutcome(True) for _ in reads]


def batches_of(plates: Sequence[Sequence[str]]) -> tuple[list[list[Event]], list[PlateRead]]:
    reads: list[PlateRead] = []
    batches: list[list[Event]] = []
    for batch in plates:
        taken = []
        for plate in batch:
            read = fresh_read(plate=plate)
            taken.append(event(read.encode(CODEC), offset=len(reads)))
            reads.append(read)
        batches.append(taken)
    return batches, reads


def test_a_batch_held_by_an_outage_holds_the_commits_after_it_until_stored() -> None:
    store = OutageStore()
    ctx, _ = context(store, store_batches_in_flight=3)
    counts = Counts("store")
    batches, _ = batches_of([["DOWN", "AAA1111"], ["BBB2222"], ["CCC3333", "DDD4444"]])
    stream = TakenStream(batches)
    sink = reads_sink(ctx)

    async def scenario() -> None:
        consuming = asyncio.ensure_future(sink.consume(stream))  # type: ignore[arg-type]
        # Wait for the batches after the held one to be written, and the first retried.
        while len(store.written) < 2 or counts["retry"] < 2:
            await asyncio.sleep(0.005)
        assert sorted(store.written) == [["BBB2222"], ["CCC3333", "DDD4444"]]
        assert stream.acked == []  # stored, but behind a batch not stored: not committed
        store.up.set()
        for _ in range(1000):  # the stream waits for more: nothing else comes
            if len(stream.acked) == 5:
                break
            await asyncio.sleep(0.01)
        consuming.cancel()

    run(scenario())
    assert store.written[-1] == ["DOWN", "AAA1111"]
    assert stream.acked == [0, 1, 2, 3, 4]  # every offset, once, in order
    assert counts["ok"] == 5


def test_the_hits_sink_writes_one_batch_at_a_time() -> None:
    ctx, _ = context(FakeStore(), store_batches_in_flight=3)
    assert (reads_sink(ctx).in_flight, hits_sink(ctx).in_flight) == (3, 1)
