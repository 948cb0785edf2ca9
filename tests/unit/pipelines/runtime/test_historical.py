"""The historical agent over batches of hotlist changes: one store call a step for the
batch, each entry's changes in order, and entry by entry when a batch breaks."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.runtime.historical import Historical
from schemas.records import Hit
from tests.factories import an_entry
from tests.unit.pipelines.runtime.runtime_doubles import (
    CODEC,
    Counts,
    FakeStore,
    RecordingOutbox,
    context,
    event,
    fresh_read,
    run,
)


def hits_in(out: RecordingOutbox) -> list[Hit]:
    return [Hit.decode(CODEC, s.value) for s in out.to("hits")]


def test_historical_checks_a_batch_of_entries_with_one_call_a_step() -> None:
    store = FakeStore()
    ctx, out = context(store)
    store.stored = [fresh_read(plate="HSA1234"), fresh_read(plate="HSB1234")]
    store.unavailable = 1
    counts = Counts("historical")
    entries = [
        an_entry(entry_id=f"stolen:MN:{p}", plate=p) for p in ("HSA1234", "HSB1234", "HSC1234")
    ]
    events = [
        event(e.encode(CODEC), key=e.entry_id.encode(), offset=i) for i, e in enumerate(entries)
    ]
    gone = event(None, key=b"stolen:MN:OLD0001", offset=3)
    run(Historical(ctx).on_changes([*events, gone]))
    assert sorted((h.entry.plate, h.read.plate) for h in hits_in(out)) == [
        ("HSA1234", "HSA1234"), ("HSB1234", "HSB1234"),
    ]  # fmt: skip
    ids = [e.entry_id for e in entries]
    assert store.calls == [
        ("forget_entry_checks", ["stolen:MN:OLD0001"]),
        ("entries_checked", ids),
        ("stored_reads_like_each", ["HSA1234", "HSB1234", "HSC1234"]),
        ("mark_entries_checked", ids),
    ]
    assert (counts["retry"], counts["hit"], counts["ok"]) == (1, 2, 3)


def test_an_entry_retracted_and_listed_again_in_one_batch_is_checked_after_the_forget() -> None:
    store = FakeStore()
    ctx, _ = context(store)
    entry = an_entry(entry_id="stolen:MN:AGN1234", plate="AGN1234")
    key = entry.entry_id.encode()
    changes = [event(entry.encode(CODEC), key=key), event(None, key=key),
               event(entry.encode(CODEC), key=key)]  # fmt: skip
    run(Historical(ctx).on_changes(changes))
    assert store.names() == [
        "entries_checked", "stored_reads_like_each", "mark_entries_checked",
        "forget_entry_checks", "entries_checked", "stored_reads_like_each",
        "mark_entries_checked",
    ]  # fmt: skip


def test_a_historical_batch_that_breaks_is_checked_entry_by_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FakeStore()
    ctx, out = context(store)
    store.stored = [fresh_read(plate="HSG1234")]
    counts = Counts("historical")

    def breaks(plates: Any) -> Any:
        raise RuntimeError("injected")

    monkeypatch.setattr(store, "stored_reads_like_each", breaks)
    entries = [an_entry(entry_id=f"stolen:MN:{p}", plate=p) for p in ("HSG1234", "HSH1234")]
    run(Historical(ctx).on_changes([event(e.encode(CODEC), key=e.entry_id.encode(), offset=i)
                                    for i, e in enumerate(entries)]))  # fmt: skip
    assert [h.entry.plate for h in hits_in(out)] == ["HSG1234"]
    assert store.names()[-6:] == [
        "entry_checked", "stored_reads_like", "mark_entry_checked",
        "entry_checked", "stored_reads_like", "mark_entry_checked",
    ]  # fmt: skip
    assert (counts["ok"], counts["dead_letter"]) == (2, 0)
