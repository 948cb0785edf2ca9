"""``lprx regroup`` on real Kafka (``pipelines/services/regroup.py``): splitting the stage
set normalize,match,share,store into normalize,match,share and store, each new app takes
the old app's committed offsets on its own stages' topics and the old dedup changelog,
record for record; running it again changes nothing; a running worker refuses it. (What
split is refused: tests/unit/pipelines/test_regroup.py.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from connectors.kafka.topics import (
    TopicSpec,
    bounded_compacted_config,
    ensure_topics,
    make_consumer,
    make_producer,
)
from pipelines.access import app_id
from pipelines.cli import common
from pipelines.services.regroup import changelog_topic, regroup
from pipelines.settings import Settings
from schemas.errors import ConfigurationError
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.integration.pipelines.served import invoke
from tests.integration.pipelines.test_dedup_restart import (
    Camera,
    duplicates_folded,
    held_pass_sent_once,
)

FORMER = ["normalize", "match", "share", "store"]
INTO = [["normalize", "match", "share"], ["store"]]
TABLE = "dedup-vehicle-passes"


@pytest.fixture
def settings(servers: Settings) -> Settings:
    return provision(unique_settings(servers, topic_partitions=2))


def committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    consumer = make_consumer(settings, group)
    try:
        wanted = [
            TopicPartition(topic, p) for p in (0, 1) if not topic.endswith(".hotlist") or p == 0
        ]
        offsets = consumer.committed(wanted, timeout=30)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in offsets if tp.offset >= 0}


Record = tuple[int, bytes | None, bytes | None, object, int]


def records(settings: Settings, topic: str) -> list[Record]:
    """(partition, key, value, headers, timestamp ms) of every record, in offset order
    per partition."""
    consumer = make_consumer(settings, f"{settings.worker_id}-check",
                             **{"enable.partition.eof": True})  # fmt: skip
    out: list[Record] = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in (0, 1)])
        ends: set[int] = set()
        while len(ends) < 2:
            for message in consumer.consume(100, timeout=0.5):
                error = message.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    ends.add(message.partition() or 0)
                else:
                    out.append((message.partition() or 0, message.key(), message.value(),
                                message.headers(), message.timestamp()[1]))  # fmt: skip
    finally:
        consumer.close()
    return sorted(out, key=lambda r: r[0])


def test_a_split_stage_set_goes_on_where_the_old_app_stopped(settings: Settings) -> None:
    old = app_id(settings, FORMER)
    pipeline, store = (app_id(settings, stages) for stages in INTO)
    assert store == f"{settings.topic_prefix}-store" and old == f"{pipeline}-store"
    # The old app had read reads.raw to 5 and 3, reads to 7 (partition 1 only) and the
    # hotlist (one partition) to 2; its dedup changelog holds three passes and a tombstone.
    producer = make_producer(settings, "test")
    for topic, partitions in (("reads.raw", 2), ("reads", 2), ("hotlist", 1)):
        for p in range(partitions):
            for i in range(8):
                producer.produce(settings.topic(topic), b"v%d" % i, b"k", partition=p)
    source = changelog_topic(old, TABLE)
    spec = TopicSpec(source, 2, bounded_compacted_config(settings))
    ensure_topics(settings, [spec])
    written = [
        (0, b'"cam-1"', b'{"passes": 1}', [("h", b"1")]),
        (0, b'"cam-1"', b'{"passes": 2}', None),
        (1, b'"cam-2"', b'{"passes": 3}', None),
        (1, b'"cam-3"', None, None),
    ]
    for partition, key, value, headers in written:
        producer.produce(source, value, key, partition=partition, headers=headers)
    assert producer.flush(30) == 0
    offsets = {"reads.raw": {0: 5, 1: 3}, "reads": {1: 7}, "hotlist": {0: 2}}
    consumer = make_consumer(settings, old)
    consumer.commit(
        offsets=[TopicPartition(settings.topic(t), p, o) for t, by in offsets.items()
                 for p, o in by.items()],
        asynchronous=False,
    )  # fmt: skip
    consumer.close()

    done = regroup(settings, FORMER, INTO)

    assert committed(settings, pipeline, settings.topic("reads.raw")) == {0: 5, 1: 3}
    assert committed(settings, pipeline, settings.topic("hotlist")) == {0: 2}
    assert committed(settings, pipeline, settings.topic("reads")) == {}  # not its stage
    assert committed(settings, store, settings.topic("reads")) == {1: 7}
    assert committed(settings, store, settings.topic("reads.raw")) == {}
    target = changelog_topic(pipeline, TABLE)
    assert done.copied == {target: 4}
    copied = records(settings, target)
    assert [(p, k, v) for p, k, v, *_ in copied] == [(p, k, v) for p, k, v, _ in written]
    assert copied[0][3] == [("h", b"1")]
    # Each copy keeps its original's time, so the transport bound counts from it.
    assert [r[4] for r in copied] == [r[4] for r in records(settings, source)]
    assert len(done.offsets[pipeline]) == 3 and len(done.offsets[store]) == 1

    # Again: nothing more to adopt, the changelog kept as it is.
    again = regroup(settings, FORMER, INTO)
    assert again.offsets == {pipeline: [], store: []}
    assert again.copied == {target: 0}
    assert len(records(settings, target)) == 4


def test_a_running_worker_of_the_old_app_refuses_it(settings: Settings) -> None:
    old = app_id(settings, FORMER)
    member = make_consumer(settings, old)
    member.subscribe([settings.topic("reads")])
    try:
        wait_for(lambda: member.poll(0.5) is None and member.assignment(), 60, "an assignment")
        with pytest.raises(ConfigurationError, match="running"):
            regroup(settings, FORMER, INTO)
    finally:
        member.close()
    assert committed(settings, app_id(settings, ["store"]), settings.topic("reads")) == {}


def test_a_pass_held_by_the_old_app_is_sent_once_by_the_new_one(
    kafka_settings: Settings, spawn: Callable[[list[str], dict[str, str]], Process], tmp_path: Path
) -> None:
    """The real thing: a Faust worker of normalize,match stopped while dedup holds a
    pass; after ``regroup --into normalize --into match`` a worker of normalize alone
    sends the held pass once, and reads nothing of reads.raw again."""
    settings = kafka_settings.model_copy(
        update={"dedup_window_seconds": 300.0, "dedup_settle_seconds": 15.0}
    )
    camera = Camera(settings)

    def start(stages: str, data_dir: Path, port: int) -> Process:
        env = settings_env(settings) | {"LPRX_TABLE_DATA_DIR": str(data_dir)}
        return spawn(["worker", "--stages", stages, "--metrics-port", str(port)], env)

    port = free_port()
    first = start("normalize,match", tmp_path / "first", port)
    camera.send("MARK000", timedelta(0))  # its pass is due first: shows the worker is up
    wait_for(camera.passed, 120, "the worker to send a first pass")
    camera.send("HLD1234", timedelta(seconds=1), confidence=70.0)
    best = camera.send("HLD1234", timedelta(seconds=2), confidence=96.0)
    # Both folded before the stop (else the new worker might send the pass, due by then,
    # before it reads the better read again: a test of timing, not of regroup).
    wait_for(lambda: duplicates_folded(port) >= 1, 120, "the pass's reads to be folded")
    first.stop()  # well inside the settle time: the pass is held in the table
    assert [r.plate for r in camera.passed()] == ["MARK000"]

    done = regroup(settings, ["normalize", "match"], [["normalize"], ["match"]])
    assert done.copied[changelog_topic(app_id(settings, ["normalize"]), TABLE)] > 0

    second = start("normalize", tmp_path / "second", free_port())  # a new machine: no local state
    held_pass_sent_once(camera, second, best, duplicates=1)


def test_the_command_says_what_it_carried_over(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "settings", lambda: settings)
    consumer = make_consumer(settings, app_id(settings, FORMER))
    consumer.commit(offsets=[TopicPartition(settings.topic("hits"), 0, 3)], asynchronous=False)
    consumer.close()
    result = invoke("regroup", "--from", ",".join(FORMER),
                    *(arg for stages in INTO for arg in ("--into", ",".join(stages))))  # fmt: skip
    assert result.exit_code == 0, result.output
    pipeline, store = (app_id(settings, stages) for stages in INTO)
    assert f"{pipeline}: 0 partition offset(s) adopted" in result.output
    assert f"{store}: 1 partition offset(s) adopted ({settings.topic('hits')})" in result.output
    assert committed(settings, store, settings.topic("hits")) == {0: 3}
