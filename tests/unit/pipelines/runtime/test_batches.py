"""The normalize agent over batches of raw reads: each camera's passes written once, in
its own partition; a read that breaks dedup costs only itself; matching in the batch
when the worker runs stage ``match`` too."""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import pytest
from faust.streams import current_event

from pipelines.runtime import passes
from pipelines.runtime.match import Match
from pipelines.runtime.normalize import Dedup
from pipelines.runtime.passes import PassBook
from pipelines.stages import dedup
from pipelines.stages.dedup import DedupPolicy
from schemas.records import Hit, PlateRead
from tests.factories import an_entry
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    Counts,
    RecordingOutbox,
    context,
    event,
    fresh_read,
    run,
)

T = TypeVar("T")


class PartitionedTable(dict[str, Any]):
    """A table that notes the partition of the event current at each write, which is
    where Faust sends the key's changelog record."""

    def __init__(self) -> None:
        super().__init__()
        self.written_in: dict[str, int] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        current = current_event()
        assert current is not None, "a table written outside a stream event"
        self.written_in[key] = current.message.partition
        super().__setitem__(key, value)


def agents_over(table: dict[str, Any], settle: float = 0.0, *, matching: bool = False) -> tuple[
    Dedup, RecordingOutbox
]:  # fmt: skip
    ctx, out = context(dedup_settle_seconds=settle)
    ctx.hotlist.put(an_entry(plate="HOT1234"))
    book = PassBook(table, ctx.codec, DedupPolicy.from_settings(ctx.settings), {})
    return Dedup(ctx, book, matcher=Match(ctx) if matching else None), out


def values(out: RecordingOutbox, topic: str) -> list[PlateRead]:
    return [PlateRead.decode(CODEC, s.value) for s in out.to(topic)]


def test_a_batch_writes_each_camera_once_in_the_partition_of_its_reads() -> None:
    table = PartitionedTable()
    agents, out = agents_over(table)
    reads = [
        (fresh_read(camera_id="cam-1", plate="AAA1111"), 1),
        (fresh_read(camera_id="cam-2", plate="BBB2222"), 2),
        (fresh_read(camera_id="cam-1", plate="AAA1111"), 1),  # the same pass
        (fresh_read(camera_id="cam-3", plate="CCC3333"), 0),
    ]
    events = [event(r.encode(CODEC), partition=p, offset=i) for i, (r, p) in enumerate(reads)]
    run(agents.on_reads(events))
    stored = values(out, "reads")
    assert sorted(r.camera_id for r in stored) == ["cam-1", "cam-2", "cam-3"]
    assert len(out.acknowledged) == 3  # one acknowledged send for the batch's passes
    assert {k.split("/")[0]: p for k, p in table.written_in.items()} == {
        "cam-1": 1, "cam-2": 2, "cam-3": 0,
    }  # fmt: skip
    assert [r.read_id for r in values(out, "reads.normalized")] == [r.read_id for r, _ in reads]
    assert all(v["held"] is None for v in table.values())  # settle 0: sent, marked so


def test_a_held_pass_keeps_the_bytes_sent_to_matching() -> None:
    table: dict[str, Any] = {}
    agents, out = agents_over(table, settle=2.0)
    read = fresh_read(plate="ENC1234")
    run(agents.on_reads([event(read.encode(CODEC))]))
    (sent,) = out.to("reads.normalized")
    (value,) = table.values()
    assert base64.b64decode(value["held"]) == sent.value  # encoded once, for both


def test_a_read_that_breaks_dedup_costs_only_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    real = dedup.fold_read

    def breaking(camera: Any, read: PlateRead, *args: Any) -> Any:
        if read.plate == "FLDBUG1":
            raise RuntimeError("injected")
        return real(camera, read, *args)

    monkeypatch.setattr(passes.dedup, "fold_read", breaking)
    agents, out = agents_over({})
    counts = Counts("dedup")
    plates = ["GUD1111", "FLDBUG1", "GUD2222", "GUD1111"]
    reads = [fresh_read(camera_id="cam-1", plate=p) for p in plates]
    run(agents.on_reads([event(r.encode(CODEC), offset=i) for i, r in enumerate(reads)]))
    assert [r.plate for r in values(out, "reads")] == ["GUD1111", "GUD2222"]
    assert [(d.stage, d.source_offset) for d in out.letters()] == [("dedup", 1)]
    assert (counts["ok"], counts["duplicate"], counts["dead_letter"]) == (2, 1, 1)


def test_with_match_in_the_worker_the_batch_is_matched_without_a_hop() -> None:
    agents, out = agents_over({}, settle=2.0, matching=True)
    counts = Counts("match")
    hot, other = fresh_read(plate="H0T1234"), fresh_read(plate="ZZZ9999")
    run(agents.on_reads([event(b"garbage"), event(hot.encode(CODEC)), event(other.encode(CODEC))]))
    (hit,) = [Hit.decode(CODEC, s.value) for s in out.to("hits")]
    assert (hit.read.read_id, hit.entry.plate) == (hot.read_id, "HOT1234")
    assert out.to("reads.normalized") == []  # matched here: nothing to send on
    assert (counts["hit"], counts["no_hit"]) == (1, 1)
    assert [d.stage for d in out.letters()] == ["normalize"]
    assert len(agents.book) == 2  # folded too, held for their settle time
