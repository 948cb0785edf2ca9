"""Each metric means one thing: a record's latency is observed once per record, a
batch's time once per batch, dead letters by stage and reason, retries by stage."""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from pipelines.metrics import (
    REGISTRY,
    CertificatesCollector,
    FollowersCollector,
    time_collections,
    timed_collection,
    watch_event_loop,
)
from pipelines.runtime.app import freeze_startup_heap
from pipelines.runtime.match import Match
from pipelines.runtime.store import reads_sink
from pipelines.settings import Settings
from schemas.records import HotlistEntry
from tests.factories import an_entry
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    FakeStore,
    context,
    event,
    fresh_read,
    run,
)

T = TypeVar("T")


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


def test_certificates_report_when_they_end(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lprx test CA")])
    ends = datetime(2031, 1, 2, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(ends)
        .sign(key, hashes.SHA256())
    )
    ca = tmp_path / "ca.pem"
    ca.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    registry = CollectorRegistry()
    registry.register(CertificatesCollector(lambda: [ca, tmp_path / "absent.pem"]))
    labels = {"file": str(ca), "subject": "CN=lprx test CA"}
    name_ = "lprx_tls_certificate_not_after_timestamp_seconds"
    assert registry.get_sample_value(name_, labels) == ends.timestamp()


@dataclass
class StubFollower:
    topic: str
    applied: int = 3
    rejected: int = 1
    errors: int = 0
    newest_record_at: float | None = 1700000000.0
    caught_up: bool = True

    def positions(self) -> dict[int, int]:
        return {0: 2, 1: 1}


def test_followers_report_caught_up_offsets_and_counts() -> None:
    registry = CollectorRegistry()
    followers = [StubFollower("p.hotlist"), StubFollower("p.agreements", caught_up=False)]
    registry.register(FollowersCollector(lambda: followers))
    value = registry.get_sample_value
    assert value("lprx_follower_caught_up", {"topic": "p.hotlist"}) == 1.0
    assert value("lprx_follower_caught_up", {"topic": "p.agreements"}) == 0.0
    offset = {"topic": "p.hotlist", "partition": "0"}
    assert value("lprx_follower_applied_offset", offset) == 2.0
    assert value("lprx_follower_applied_records_total", {"topic": "p.hotlist"}) == 3.0
    assert value("lprx_follower_rejected_records_total", {"topic": "p.hotlist"}) == 1.0
    newest = value("lprx_follower_newest_record_timestamp_seconds", {"topic": "p.hotlist"})
    assert newest == 1700000000.0


def test_dead_letter_reasons_are_a_bounded_set_declared_at_zero() -> None:
    from pipelines.metrics import dead_letter_reason, declare
    from pipelines.stages.dispositions import NotARecipient
    from schemas import DecodeError
    from schemas.errors import InvalidRecord

    assert dead_letter_reason(DecodeError("x")) == "DecodeError"
    assert dead_letter_reason(NotARecipient("x")) == "InvalidRecord"
    assert dead_letter_reason(InvalidRecord("x")) == "InvalidRecord"
    assert dead_letter_reason(KeyError("x")) == "unexpected"
    declare("unit-declared")
    labels = {"stage": "unit-declared", "reason": "DecodeError"}
    assert REGISTRY.get_sample_value("lprx_dead_letters_total", labels) == 0.0
    assert sample("lprx_retries_total", stage="unit-declared") == 0.0


def test_each_garbage_collection_is_timed_once() -> None:
    time_collections()
    time_collections()  # a second call adds no second timer
    assert gc.callbacks.count(timed_collection) == 1

    def collected() -> float:
        value = REGISTRY.get_sample_value("lprx_gc_pause_ms_count", {"generation": "2"})
        return value or 0.0

    before = collected()
    gc.collect()
    assert collected() == before + 1


def test_a_blocked_event_loop_is_timed_as_late() -> None:
    def late_ticks(over_ms: str) -> tuple[float, float]:
        count = sample("lprx_event_loop_lag_ms_count")
        on_time = REGISTRY.get_sample_value("lprx_event_loop_lag_ms_bucket", {"le": over_ms})
        return count, count - (on_time or 0.0)

    async def block_once() -> None:
        watcher = asyncio.create_task(watch_event_loop())
        await asyncio.sleep(0.05)  # the watcher's first tick is due in 50 ms
        time.sleep(0.4)  # a blocking call, as a collection or a CPU-bound step is
        await asyncio.sleep(0.25)  # that tick lands, and one more on time
        watcher.cancel()

    ticks, late = late_ticks("250.0")
    asyncio.run(block_once())
    ticks_after, late_after = late_ticks("250.0")
    blocked = late_after - late
    assert blocked >= 1  # due at 100 ms, blocked to 450 ms: about 350 ms late
    # The ticks after it ran on time; a loaded box may delay one, not both by 250 ms.
    assert ticks_after - ticks - blocked >= 1


def test_the_startup_heap_is_frozen_once_the_followers_are_loaded() -> None:
    ctx, _ = context()
    order: list[str] = []

    async def loaded() -> None:
        order.append(f"followers loaded, {gc.get_freeze_count()} frozen")

    ctx.wait_for_followers = loaded  # type: ignore[method-assign]
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        asyncio.run(freeze_startup_heap(ctx))
        assert order == ["followers loaded, 0 frozen"]
        assert gc.get_freeze_count() > 1000  # the modules and objects a worker holds
        assert gc.get_threshold() == ctx.settings.worker_gc_thresholds
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_collector_thresholds_are_three_positive_counts() -> None:
    assert Settings(worker_gc_thresholds=(20000, 20, 20)).worker_gc_thresholds == (20000, 20, 20)
    for wrong in [(0, 10, 10), (700, -1, 10), (700, 10)]:
        with pytest.raises(ValidationError):
            Settings(worker_gc_thresholds=wrong)
