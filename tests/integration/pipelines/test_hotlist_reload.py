"""A full hotlist reload through the compacted topic while matching runs: no hit lost."""

from __future__ import annotations

import os
import threading

from connectors.hotlist.topic import publish_snapshot
from connectors.kafka.topics import make_producer
from pipelines.runtime.followers import follow_hotlist, hotlist_index
from pipelines.settings import Settings
from pipelines.stages.match import match_reads_guarded
from schemas import SingleObjectCodec
from schemas.records import Hit, HotlistCategory, HotlistEntry, utcnow
from tests.conftest import wait_for
from tests.factories import a_read

# `make test` (and so CI) runs it with 1,000,000 entries, about 5.5 min on 2 cores;
# a bare pytest run uses 20,000 for a quick loop.
ENTRIES = int(os.environ.get("LPRX_RELOAD_ENTRIES", "20000"))
CODEC = SingleObjectCodec()


def entry(i: int, priority: int = 50) -> HotlistEntry:
    plate = f"R{i:07d}"
    return HotlistEntry(
        entry_id=f"ncic:MN:{plate}",
        list_id="ncic",
        source="NCIC",
        category=HotlistCategory.STOLEN_VEHICLE,
        owning_agency_ori="MN9990001",
        plate=plate,
        priority=priority,
        plate_state="MN",
    )


def test_full_reload_while_matching_loses_no_hit(kafka_settings: Settings) -> None:
    producer = make_producer(kafka_settings, "test-reload")
    first = [entry(i) for i in range(ENTRIES)]
    report = publish_snapshot(kafka_settings, producer, CODEC, "ncic", first)
    assert (report.upserted, report.retracted) == (ENTRIES, 0)

    # The match worker's own index and follower, as its context builds them.
    index = hotlist_index(kafka_settings)
    follower = follow_hotlist(kafka_settings, CODEC, index)
    follower.start()
    try:
        assert follower.wait_caught_up(300)
        assert len(index) == ENTRIES

        # The second snapshot: a tenth retracted, a tenth new, a tenth changed.
        tenth = ENTRIES // 10
        kept = range(tenth, ENTRIES)
        second = [entry(i, priority=90 if i < 2 * tenth else 50) for i in kept]
        second += [entry(ENTRIES + i) for i in range(tenth)]
        probes = [f"R{i:07d}" for i in range(tenth, ENTRIES, max(1, ENTRIES // 500))]
        reads = [a_read(plate=plate, collected_at=utcnow()) for plate in probes]

        misses: list[str] = []
        lookups = 0
        stop = threading.Event()

        def match_continuously() -> None:
            """As the match agent matches a batch: one ``lookup_many`` for all of it."""
            nonlocal lookups
            while not stop.is_set():
                outcomes = match_reads_guarded(reads, index, utcnow())
                for plate, outcome in zip(probes, outcomes, strict=True):
                    # The plate's own entry hit (a neighbour one edit away may rank first).
                    own = f"ncic:MN:{plate}"
                    if not isinstance(outcome, Hit) or own not in (
                        outcome.entry.entry_id,
                        *outcome.other_entry_ids,
                    ):
                        misses.append(plate)
                lookups += len(probes)

        matcher = threading.Thread(target=match_continuously)
        matcher.start()
        try:
            report = publish_snapshot(kafka_settings, producer, CODEC, "ncic", second)
            assert (report.upserted, report.unchanged, report.retracted) == (
                2 * tenth,
                ENTRIES - 2 * tenth,
                tenth,
            )
            last_new = f"R{ENTRIES + tenth - 1:07d}"
            wait_for(lambda: index.exact(last_new) and not index.exact("R0000000"), 300, "reload")
            wait_for(lambda: len(index) == ENTRIES, 60, "every retraction")
        finally:
            stop.set()
            matcher.join()
        assert lookups > len(probes), "the matcher ran during the reload"
        assert misses == [], f"{len(misses)} of {lookups} lookups lost a live entry"
        assert index.exact(f"R{tenth:07d}")[0].priority == 90
        assert index.exact("R0000000") == []
    finally:
        follower.stop()
