"""The Faust app's wiring of settings (built, not started: no servers needed)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import uvloop

from connectors.kafka.topics import bounded_compacted_config, core_topics
from pipelines.access import STAGE_SOURCES, STAGE_TABLES, app_id
from pipelines.runtime import Pipeline, create_pipeline
from pipelines.runtime.app import ALL_STAGES, use_event_loop
from pipelines.runtime.share import ShareService
from pipelines.settings import Settings
from pipelines.stages.match import match_read
from tests.factories import NOW, a_read, an_entry


def pipeline(tmp_path: Path, **settings: object) -> Pipeline:
    # Built, never connected: no credentials needed (tests/unit/test_security.py checks
    # the app's SCRAM credentials).
    return create_pipeline(
        Settings(
            table_store="memory://",
            table_data_dir=tmp_path,
            kafka_security_protocol="PLAINTEXT",
            **settings,  # type: ignore[arg-type]
        )
    )


def test_edit_distance_zero_turns_one_edit_hits_off(tmp_path: Path) -> None:
    exact_only = pipeline(tmp_path / "a", match_max_edit_distance=0).context.hotlist
    default = pipeline(tmp_path / "b").context.hotlist
    for index in (exact_only, default):
        index.put(an_entry(plate="ABC1234"))
    one_edit = a_read(plate="ABC1235")
    assert match_read(one_edit, exact_only, NOW) is None
    assert match_read(one_edit, default, NOW) is not None
    assert match_read(a_read(plate="A8C1234"), exact_only, NOW) is not None  # confusable


def test_dedup_policy_follows_the_settings(tmp_path: Path) -> None:
    worker = pipeline(
        tmp_path,
        dedup_settle_seconds=0.5,
        dedup_weight_fits_format=2.0,
        match_fuzzy_min_length=6,
    )
    policy = worker.agents["normalize"].book.policy
    assert policy.settle_seconds == 0.5
    assert policy.weights.fits_format == 2.0
    assert policy.fuzzy_min_length == 6  # the matching setting


def test_names_stay_what_offsets_and_changelogs_are_stored_under(tmp_path: Path) -> None:
    worker = pipeline(tmp_path, topic_prefix="lprx")
    assert worker.stages == ("ocr", "normalize", "match", "share", "store")
    assert worker.app.conf.id == "lprx-ocr-normalize-match-share-store"
    assert sorted(agent.name for agent in worker.app.agents.values()) == sorted(
        [
            "ocr", "normalize", "dedup-ticks", "match", "historical",
            "store-reads", "store-hits", "store-audit", "store-dispositions",
        ]
    )  # fmt: skip
    assert sorted(worker.app.tables) == ["dedup-vehicle-passes"]
    sources = {a.name: a.channel.get_topic_name() for a in worker.app.agents.values()}
    assert sources["normalize"] == "lprx.reads.raw"
    assert sources["dedup-ticks"] == "lprx.dedup-ticks"
    assert sources["match"] == "lprx.reads.normalized"  # matched before dedup
    assert sources["store-reads"] == "lprx.reads"  # the best read of each pass
    assert sources["historical"] == "lprx.hotlist"
    assert sources["store-dispositions"] == "lprx.dispositions"


def test_a_worker_runs_only_its_stages(tmp_path: Path) -> None:
    worker = pipeline(tmp_path, topic_prefix="lprx", worker_stages=["store", "share"])
    assert worker.stages == ("share", "store")
    assert worker.app.conf.id == "lprx-share-store"
    assert sorted(a.name for a in worker.app.agents.values()) == [
        "store-audit", "store-dispositions", "store-hits", "store-reads",
    ]  # fmt: skip
    assert sorted(worker.app.tables) == []
    assert isinstance(worker.agents["share"], ShareService)


def test_share_runs_its_own_group_over_hits_with_its_state_beside_them(tmp_path: Path) -> None:
    worker = pipeline(tmp_path, topic_prefix="lprx", worker_id="w1", worker_stages=["share"])
    assert sorted(worker.app.agents) == [] and sorted(worker.app.tables) == []
    config = worker.agents["share"].loop.config
    assert (config.source, config.changelog, config.group_id) == (
        "lprx.hits", "lprx.hit-alerts", "lprx-share",
    )  # fmt: skip
    assert config.transactional_id == f"lprx-share-w1@{socket.gethostname()}"
    names = {spec.name: spec for spec in core_topics(worker.context.settings)}
    state = names["lprx.hit-alerts"]
    assert state.partitions == names["lprx.hits"].partitions
    # Bounded like every changelog: nothing outlives the transport bound.
    assert state.config == bounded_compacted_config(worker.context.settings)
    assert state.config["cleanup.policy"] == "compact,delete"
    # Readiness waits for the loop: not started until the agreements are loaded.
    assert worker.agents["share"].problem() == "not started (waiting for the agreements)"


@pytest.mark.parametrize("stage", ALL_STAGES)
def test_each_stage_consumes_and_declares_what_regroup_carries_over(
    tmp_path: Path, stage: str
) -> None:
    """``lprx regroup`` moves a stage's offsets on STAGE_SOURCES and its STAGE_TABLES'
    changelogs: a source or a table missing there would start from nothing."""
    worker = pipeline(tmp_path, topic_prefix="lprx", worker_stages=[stage])
    consumed = {a.channel.get_topic_name() for a in worker.app.agents.values()}
    assert consumed == {f"lprx.{topic}" for topic in STAGE_SOURCES[stage]}
    assert sorted(worker.app.tables) == sorted(STAGE_TABLES.get(stage, ()))
    assert worker.app.conf.id == app_id(worker.context.settings, [stage])


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown stages"):
        pipeline(tmp_path, worker_stages=["normalize", "nope"])


def test_the_worker_consumer_reads_committed_records_only(tmp_path: Path) -> None:
    # Share writes its audit events in transactions; store-audit must not see an
    # aborted one. Built, not started: the consumer Faust would start with.
    worker = pipeline(tmp_path)

    async def built() -> str:
        transport = worker.app.transport
        consumer = transport.create_consumer(
            callback=lambda *_: None,
            on_partitions_revoked=lambda *_: None,
            on_partitions_assigned=lambda *_: None,
        )
        kafka_consumer = consumer._thread._create_worker_consumer(transport)
        return str(kafka_consumer._isolation_level)

    assert asyncio.run(built()) == "read_committed"


def test_a_transaction_marker_does_not_hold_back_the_commit(tmp_path: Path) -> None:
    # Offsets 0-2, a commit marker at 3, then 4-5: Faust is handed 0, 1, 2, 4, 5 and
    # records the gap when it sees 4 after 2. One commit must cover all of them.
    from faust.types import TP

    worker = pipeline(tmp_path)
    tp = TP("lprx.audit", 0)

    async def committable() -> int | None:
        transport = worker.app.transport
        consumer = transport.create_consumer(
            callback=lambda *_: None,
            on_partitions_revoked=lambda *_: None,
            on_partitions_assigned=lambda *_: None,
        )
        consumer._acked[tp] = [0, 1, 2, 4, 5]
        await consumer._add_gap(tp, 2 + 1, 4)  # as Faust's fetch loop calls it
        return consumer._new_offset(tp)

    assert asyncio.run(committable()) == 6


def test_table_changelogs_are_bounded_and_replicated_as_the_settings_say(
    tmp_path: Path,
) -> None:
    from connectors.kafka.topics import bounded_compacted_config

    worker = pipeline(tmp_path, topic_replication_factor=3, topic_min_insync_replicas=2)
    assert worker.app.conf.topic_replication_factor == 3
    wanted = bounded_compacted_config(worker.context.settings)
    assert wanted["min.insync.replicas"] == "2"
    for table in worker.app.tables.values():
        changelog = table.changelog_topic
        # Faust lays these over its own "compact" when it creates the topic.
        assert dict(changelog.config or {}) == wanted, table.name


def test_a_worker_runs_on_the_event_loop_its_settings_name() -> None:
    def new_loop_is_uvloop() -> bool:
        loop = asyncio.new_event_loop()
        loop.close()
        return isinstance(loop, uvloop.Loop)

    before = asyncio.get_event_loop_policy()
    try:
        use_event_loop(Settings().worker_event_loop)  # the default
        assert new_loop_is_uvloop()
        asyncio.set_event_loop_policy(None)
        use_event_loop("asyncio")
        assert not new_loop_is_uvloop()
    finally:
        asyncio.set_event_loop_policy(before)
    with pytest.raises(ValueError):
        Settings(worker_event_loop="gevent")  # type: ignore[arg-type]  # not offered
