"""A full hotlist reload through the compacted topic while matching runs: no hit lost."""

from __future__ import annotations

import os
import threading

from connectors.hotlist.topic import publish_snapshot
from connectors.kafka.follower import CompactedTopicFollower
from connectors.kafka.topics import make_producer
from pipelines.matching.index import HotlistIndex
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.records import HotlistCategory, HotlistEntry
from tests.conftest import wait_for

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


def follow(settings: Settings, index: HotlistIndex) -> CompactedTopicFollower[HotlistEntry]:
    """Wired as the match worker wires it: bulk while loading, then live updates."""
    state = {"loading": True}

    def loaded() -> None:
        index.compact()
        state["loading"] = False

    follower: CompactedTopicFollower[HotlistEntry] = CompactedTopicFollower(
        settings,
        settings.topic("hotlist"),
        lambda b: HotlistEntry.decode(CODEC, b),
        lambda _k, e: index.put(e, defer_fuzzy=state["loading"]),
        index.retract,
        loaded,
    )
    follower.start()
    return follower


def test_full_reload_while_matching_loses_no_hit(kafka_settings: Settings) -> None:
    producer = make_producer(kafka_settings, "test-reload")
    first = [entry(i) for i in range(ENTRIES)]
    report = publish_snapshot(kafka_settings, producer, CODEC, "ncic", first)
    assert (report.upserted, report.retracted) == (ENTRIES, 0)

    index = HotlistIndex()
    follower = follow(kafka_settings, index)
    try:
        assert follower.wait_caught_up(300)
        assert len(index) == ENTRIES

        # The second snapshot: a tenth retracted, a tenth new, a tenth changed.
        tenth = ENTRIES // 10
        kept = range(tenth, ENTRIES)
        second = [entry(i, priority=90 if i < 2 * tenth else 50) for i in kept]
        second += [entry(ENTRIES + i) for i in range(tenth)]
        probes = [f"R{i:07d}" for i in range(tenth, ENTRIES, max(1, ENTRIES // 500))]

        misses: list[str] = []
        lookups = 0
        stop = threading.Event()

        def match_continuously() -> None:
            nonlocal lookups
            while not stop.is_set():
                for plate in probes:
                    if not index.exact(plate) or not index.lookup(plate):
                        misses.append(plate)
                    lookups += 1

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
