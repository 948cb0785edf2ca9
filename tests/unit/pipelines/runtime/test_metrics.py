"""Each metric means one thing: a record's latency is observed once per record, a
batch's time once per batch, dead letters by stage and reason, retries by stage."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from pipelines.metrics import REGISTRY
from pipelines.runtime import guard as guard_module
from pipelines.runtime.match import Match
from pipelines.runtime.store import reads_sink
from schemas.records import HotlistEntry
from tests.factories import an_entry
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    FakeStore,
    context,
    event,
    fresh_read,
)

T = TypeVar("T")


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard_module, "BACKOFF_FIRST_S", 0.001)


def run(coroutine: Awaitable[T]) -> T:
    import asyncio

    async def wrapped() -> T:
        return await coroutine

    return asyncio.run(wrapped())


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Samples of the worker registry, as changes since this was made."""

    def __init__(self, *samples: tuple[str, dict[str, Any]]) -> None:
        self._samples = samples
        self._start = [sample(name, **labels) for name, labels in samples]

    def __call__(self) -> list[float]:
        now = [sample(name, **labels) for name, labels in self._samples]
        return [b - a for a, b in zip(self._start, now, strict=True)]


def test_match_observes_each_record_once_and_the_batch_once() -> None:
    ctx, _ = context()
    entry: HotlistEntry = an_entry(plate="ABC1234")
    ctx.hotlist.put(entry)
    reads = [fresh_read(plate="ABC1234"), fresh_read(plate="ZZZ999"), fresh_read(plate="QQQ111")]
    delta = Delta(
        ("lprx_stage_latency_ms_count", {"stage": "match"}),
        ("lprx_stage_batch_ms_count", {"stage": "match"}),
        ("lprx_stage_batch_records_sum", {"stage": "match"}),
        ("lprx_read_age_ms_count", {"stage": "match"}),
        ("lprx_dead_letters_total", {"stage": "match", "reason": "DecodeError"}),
    )
    events = [event(r.encode(CODEC), offset=i) for i, r in enumerate(reads)]
    run(Match(ctx).on_batch([*events, event(b"not avro", offset=9)]))
    # 4 records (one dead-lettered), one batch of 4, 3 reads aged, 1 letter by reason.
    assert delta() == [4.0, 1.0, 4.0, 3.0, 1.0]


def test_store_observes_each_record_once_and_times_the_write_as_a_store_call() -> None:
    store = FakeStore()
    ctx, _ = context(store)
    store.unavailable = 1
    delta = Delta(
        ("lprx_stage_latency_ms_count", {"stage": "store"}),
        ("lprx_stage_batch_ms_count", {"stage": "store"}),
        ("lprx_store_call_ms_count", {"stage": "store"}),
        ("lprx_retries_total", {"stage": "store"}),
        ("lprx_read_age_ms_count", {"stage": "store"}),
    )
    reads = [fresh_read(), fresh_read()]
    run(reads_sink(ctx).on_batch([event(r.encode(CODEC), offset=i) for i, r in enumerate(reads)]))
    # Two records, one batch, two write attempts (one failed, retried once), two stored.
    assert delta() == [2.0, 1.0, 2.0, 1.0, 2.0]


def test_worker_gauges_are_not_in_the_default_registry() -> None:
    """The ingest serves the default registry: it must not export workers' gauges."""
    assert REGISTRY.get_sample_value("lprx_hotlist_entries") is not None
    assert DEFAULT_REGISTRY.get_sample_value("lprx_hotlist_entries") is None
    names = {m.name for m in DEFAULT_REGISTRY.collect()}
    assert not {"lprx_records", "lprx_hotlist_entries", "lprx_dedup_passes"} & names
