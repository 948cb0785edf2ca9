"""Dedup state survives a worker restart (Faust table + changelog on real Kafka) and is
forgotten when a camera leaves service."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from connectors.kafka.reader import read_values
from connectors.kafka.topics import bounded_compacted_config
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.plates import confusable_key
from schemas.records import PlateRead, utcnow
from tests.conftest import (
    Process,
    consume_messages,
    free_port,
    metric_sum,
    records_total,
    settings_env,
    wait_for,
)
from tests.factories import a_read
from tests.integration.connectors.test_topics import topic_configs

CODEC = SingleObjectCodec()


class Camera:
    """Sends reads of one camera to reads.raw, and reads what dedup passed on."""

    def __init__(self, settings: Settings) -> None:
        from connectors.kafka.topics import make_producer

        self.settings = settings
        self.producer = make_producer(settings, "test-dedup")
        self.now = utcnow()

    def send(self, plate: str, at: timedelta, confidence: float = 90.0) -> PlateRead:
        read = a_read(
            plate=plate, camera_id="cam-r", collected_at=self.now + at, confidence=confidence
        )
        self.producer.produce(
            self.settings.topic("reads.raw"), key=b"cam-r", value=read.encode(CODEC)
        )
        self.producer.flush(10)
        return read

    def passed(self) -> list[PlateRead]:
        values = read_values(self.settings, self.settings.topic("reads"), 100, 2)
        return [PlateRead.decode(CODEC, v) for v in values]


def duplicates_folded(metrics_port: int) -> float:
    """The reads a running worker's dedup has folded into a pass as duplicates, 0 while
    its metrics do not answer yet."""
    try:
        return records_total(metrics_port, "dedup", "duplicate")
    except httpx.HTTPError:
        return 0.0


@pytest.fixture
def start_worker(
    spawn: Callable[[list[str], dict[str, str]], Process],
) -> Callable[..., Process]:
    def start(settings: Settings, data_dir: Path, metrics_port: int | None = None) -> Process:
        env = settings_env(settings) | {"LPRX_TABLE_DATA_DIR": str(data_dir)}
        port = metrics_port or free_port()
        args = ["worker", "--stages", "normalize", "--metrics-port", str(port)]
        return spawn(args, env)

    return start


def test_a_restarted_worker_does_not_emit_a_repeat_again(
    kafka_settings: Settings, start_worker: Callable[[Settings, Path], Process], tmp_path: Path
) -> None:
    settings = kafka_settings.model_copy(
        update={"dedup_window_seconds": 300.0, "dedup_settle_seconds": 0.0}
    )
    camera = Camera(settings)

    def plates() -> list[str]:
        return [r.plate for r in camera.passed()]

    first = start_worker(settings, tmp_path / "first")
    camera.send("RST1234", timedelta(0))
    wait_for(lambda: plates() == ["RST1234"], 120, "the first read")
    first.stop()

    # A new machine: no local state, only what the changelog topic kept.
    second = start_worker(settings, tmp_path / "second")
    camera.send("RST1234", timedelta(seconds=30))  # the same car, same pass
    camera.send("RST1284", timedelta(seconds=31))  # a one-character misread of it
    camera.send("NEXT999", timedelta(seconds=32))  # a new car, to know the others were handled
    wait_for(lambda: "NEXT999" in plates(), 120, "the marker read")
    assert second.alive(), second.output()
    assert plates() == ["RST1234", "NEXT999"]
    # The changelog Faust made keeps nothing past the transport bound.
    changelog = f"{settings.topic_prefix}-normalize-dedup-vehicle-passes-changelog"
    configs = topic_configs(settings, changelog)
    for key, value in bounded_compacted_config(settings).items():
        assert configs[key] == value, key


def test_a_pass_held_when_the_worker_stopped_is_sent_once_by_the_next(
    kafka_settings: Settings, start_worker: Callable[..., Process], tmp_path: Path
) -> None:
    settings = kafka_settings.model_copy(
        update={"dedup_window_seconds": 300.0, "dedup_settle_seconds": 15.0}
    )
    camera = Camera(settings)
    port = free_port()
    first = start_worker(settings, tmp_path / "first", port)
    camera.send("MARK000", timedelta(0))  # its pass is due first: shows the worker is up
    wait_for(camera.passed, 120, "the worker to send a first pass")
    camera.send("HLD1234", timedelta(seconds=1), confidence=70.0)
    best = camera.send("HLD1234", timedelta(seconds=2), confidence=96.0)
    camera.send("HLD1Z34", timedelta(seconds=3), confidence=80.0)
    # All three folded into the held pass before the stop: a read the first worker never
    # took would be read again by the next only after the pass it belongs to may be due.
    wait_for(lambda: duplicates_folded(port) >= 2, 120, "the pass's reads to be folded")
    # Stopped well inside the settle time: the pass is held in the table, not yet sent.
    first.stop()
    assert [r.plate for r in camera.passed()] == ["MARK000"]

    second = start_worker(settings, tmp_path / "second")
    held_pass_sent_once(camera, second, best, duplicates=2)


def passes_remembered(metrics_port: int) -> float:
    """A running worker's dedup passes (``lprx_dedup_passes``), 0 while it does not answer."""
    try:
        return metric_sum(metrics_port, "lprx_dedup_passes")
    except httpx.HTTPError:
        return 0.0


def test_a_held_pass_overdue_at_the_start_waits_for_the_reads_that_came_meanwhile(
    kafka_settings: Settings, start_worker: Callable[..., Process], tmp_path: Path
) -> None:
    """The worker stops with a pass held; while none runs, a backlog builds up in
    reads.raw, the pass's better read at its end, and the pass's settle time passes. The
    next worker stores the better read: it settles no pass of a partition before its
    commits reach the end the partition had when it started."""
    settings = kafka_settings.model_copy(
        update={"dedup_window_seconds": 300.0, "dedup_settle_seconds": 3.0}
    )
    camera = Camera(settings)
    port = free_port()
    first = start_worker(settings, tmp_path / "first", port)
    camera.send("MARK000", timedelta(0))
    wait_for(camera.passed, 120, "the worker to send a first pass")
    camera.send("BKL1234", timedelta(seconds=1), confidence=70.0)
    wait_for(lambda: passes_remembered(port) >= 2, 120, "the held pass to be folded")
    first.stop()

    topic = settings.topic("reads.raw")
    for n in range(10_000):  # another camera's car sitting in view: one pass
        read = a_read(
            plate="QUEUE12", camera_id="cam-q", collected_at=camera.now + timedelta(seconds=n / 100)
        )
        camera.producer.produce(topic, key=b"cam-q", value=read.encode(CODEC))
        if n % 1000 == 0:
            camera.producer.poll(0)
    best = camera.send("BKL1234", timedelta(seconds=2), confidence=96.0)
    time.sleep(settings.dedup_settle_seconds + 1)  # the held pass overdue before the start
    assert [r.plate for r in camera.passed()] == ["MARK000"]

    second = start_worker(settings, tmp_path / "second")
    wait_for(lambda: len(camera.passed()) >= 3, 180, "the held pass and the backlog's")
    camera.send("NEXT999", timedelta(seconds=40))  # sent once what came before is handled
    wait_for(lambda: "NEXT999" in [r.plate for r in camera.passed()], 120, "the marker read")
    assert second.alive(), second.output()
    by_plate = {r.plate: r for r in camera.passed()}
    assert sorted(by_plate) == ["BKL1234", "MARK000", "NEXT999", "QUEUE12"]
    assert len(camera.passed()) == 4  # each pass once
    assert by_plate["BKL1234"].read_id == best.read_id
    assert by_plate["BKL1234"].duplicates == 1
    # Every read of the backlog folded before its pass was sent (more, if Faust dropped
    # records and read them again from the committed offset: at least once).
    assert by_plate["QUEUE12"].duplicates >= 9_999


def held_pass_sent_once(camera: Camera, worker: Process, best: PlateRead, duplicates: int) -> None:
    """The pass held when the first worker stopped (after MARK000's) is sent by
    ``worker``, once, with its best read, before a marker read sent after it."""
    wait_for(lambda: len(camera.passed()) >= 2, 120, "the held pass")
    camera.send("NEXT999", timedelta(seconds=40))
    wait_for(lambda: len(camera.passed()) >= 3, 120, "the marker read")
    assert worker.alive(), worker.output()
    passed = camera.passed()
    assert [r.plate for r in passed] == ["MARK000", "HLD1234", "NEXT999"]
    assert passed[1].read_id == best.read_id
    assert passed[1].duplicates == duplicates


def test_the_cameras_of_one_site_give_one_read_per_pass(
    kafka_settings: Settings, start_worker: Callable[[Settings, Path], Process], tmp_path: Path
) -> None:
    from connectors.kafka.sink import KafkaSink

    settings = kafka_settings.model_copy(
        update={
            "dedup_settle_seconds": 0.5,
            "dedup_sites": {"gate-east": "gate", "gate-west": "gate"},
        }
    )
    start_worker(settings, tmp_path)  # its environment carries LPRX_DEDUP_SITES
    sink = KafkaSink(settings, "test-sites")
    now = utcnow()
    east = a_read(plate="GAT1234", camera_id="gate-east", collected_at=now, confidence=88.0)
    west = a_read(plate="GAT1234", camera_id="gate-west", collected_at=now, confidence=95.0)
    elsewhere = a_read(plate="GAT1234", camera_id="downtown", collected_at=now)
    for read in (east, west, elsewhere):
        sink.publish_read(read)
    sink.flush(10)

    def passed() -> list[PlateRead]:
        values = read_values(settings, settings.topic("reads"), 100, 2)
        return [PlateRead.decode(CODEC, v) for v in values]

    reads = wait_for(lambda: r if len(r := passed()) >= 2 else None, 120, "two passes")
    assert sorted(r.camera_id for r in reads) == ["downtown", "gate-west"]
    assert next(r for r in reads if r.camera_id == "gate-west").duplicates == 1


def test_a_camera_out_of_service_is_forgotten_from_the_table(
    kafka_settings: Settings, start_worker: Callable[[Settings, Path], Process], tmp_path: Path
) -> None:
    # Forgotten two windows (2 s) after its last read, worker time.
    settings = kafka_settings.model_copy(
        update={"dedup_window_seconds": 1.0, "dedup_settle_seconds": 0.0}
    )
    camera = Camera(settings)
    worker = start_worker(settings, tmp_path)
    camera.send("OLD1234", timedelta(0))
    camera.send("OLD5678", timedelta(seconds=0.5))
    wait_for(lambda: len(camera.passed()) >= 2, 120, "both passes sent")
    changelog = f"{settings.topic_prefix}-normalize-dedup-vehicle-passes-changelog"

    def table() -> dict[str, object]:
        """The table as the changelog leaves it: each key's last value, None deleted."""
        state: dict[str, object] = {}
        for message in consume_messages(settings, changelog, 1000, timeout=2):
            key = json.loads(message.key())
            value = message.value()
            state[key] = None if value is None else json.loads(value)
        return state

    def forgotten() -> dict[str, object] | None:
        state = table()
        return state if len(state) == 2 and all(v is None for v in state.values()) else None

    state = wait_for(forgotten, 60, "the idle camera's passes deleted")
    assert set(state) == {f"cam-r/{confusable_key(p)}" for p in ("OLD1234", "OLD5678")}
    # In service again: its next read is a new pass, sent as usual.
    camera.send("OLD1234", timedelta(seconds=30))
    wait_for(lambda: len(camera.passed()) >= 3, 60, "the camera's next pass")
    assert worker.alive(), worker.output()


def set_topic_config(settings: Settings, topic: str, name: str, value: str) -> None:
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        ResourceType,
    )

    from connectors.kafka.topics import admin_client

    entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    admin = admin_client(settings)  # held: a collected client cancels its futures
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()


def test_a_worker_killed_before_kafka_acknowledged_a_pass_loses_nothing(
    kafka_settings: Settings, start_worker: Callable[[Settings, Path], Process], tmp_path: Path
) -> None:
    """The bad moment held open: the pass's read is sent to ``reads``, which refuses it
    (a record limit below its size), and the worker is SIGKILLed while it retries. Its
    table must still hold the pass (a mark written before the acknowledgement is how the
    fault suite lost reads), and the restarted worker, the cause fixed, must send it."""
    settings = kafka_settings.model_copy(
        update={"dedup_window_seconds": 300.0, "dedup_settle_seconds": 1.0}
    )
    camera = Camera(settings)
    reads = settings.topic("reads")
    changelog = f"{settings.topic_prefix}-normalize-dedup-vehicle-passes-changelog"
    set_topic_config(settings, reads, "max.message.bytes", "16")
    first = start_worker(settings, tmp_path / "worker")
    pending = camera.send("KIL1234", timedelta(0))

    def matched() -> bool:
        values = read_values(settings, settings.topic("reads.normalized"), 10, 2)
        return pending.read_id in {PlateRead.decode(CODEC, v).read_id for v in values}

    wait_for(matched, 120, "the read, normalised and forwarded to matching")
    wait_for(lambda: "retrying" in first.output(), 60, "the refused send, retried")

    def held() -> list[object]:
        messages = consume_messages(settings, changelog, 100, timeout=2)
        return [json.loads(m.value())["held"] for m in messages if m.value() is not None]

    holds = wait_for(held, 30, "the pass in the changelog")
    assert all(h is not None for h in holds), "marked sent before Kafka acknowledged it"
    assert first.alive(), first.output()
    first.popen.kill()  # SIGKILL: no flush, no clean shutdown
    first.popen.wait()
    assert read_values(settings, reads, 10, 2) == []

    set_topic_config(settings, reads, "max.message.bytes", "1048588")  # the cause fixed
    second = start_worker(settings, tmp_path / "worker")  # same machine, same RocksDB
    stored = wait_for(camera.passed, 120, "the pass sent by the restarted worker")
    assert {r.read_id for r in stored} == {pending.read_id}
    assert second.alive(), second.output()
