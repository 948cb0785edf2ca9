"""Dedup state survives a worker restart (Faust table + changelog on real Kafka)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pipelines.cli import consume_topic
from pipelines.records import PlateRead, utcnow
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from tests.conftest import Process, free_port, settings_env, wait_for
from tests.factories import a_read

CODEC = SingleObjectCodec()


def test_a_restarted_worker_does_not_emit_a_repeat_again(
    kafka_settings: Settings,
    spawn: Callable[[list[str], dict[str, str]], Process],
    tmp_path: Path,
) -> None:
    from connectors.kafka import make_producer

    settings = kafka_settings.model_copy(update={"dedup_window_seconds": 300.0})
    producer = make_producer(settings, "test-dedup")
    now = utcnow()

    def send(plate: str, at: timedelta) -> None:
        read = a_read(plate=plate, camera_id="cam-r", collected_at=now + at)
        producer.produce(settings.topic("reads.raw"), key=b"cam-r", value=read.encode(CODEC))
        producer.flush(10)

    def passed() -> list[str]:
        values = consume_topic(settings, settings.topic("reads"), 100, 2)
        return [PlateRead.decode(CODEC, v).plate for v in values]

    def start_worker(data_dir: Path) -> Process:
        env = settings_env(settings) | {"LPRX_TABLE_DATA_DIR": str(data_dir)}
        args = ["worker", "--stages", "normalize", "--metrics-port", str(free_port())]
        return spawn(args, env)

    first = start_worker(tmp_path / "first")
    send("RST1234", timedelta(0))
    wait_for(lambda: passed() == ["RST1234"], 120, "the first read")
    first.stop()

    # A new machine: no local state, only what the changelog topic kept.
    second = start_worker(tmp_path / "second")
    send("RST1234", timedelta(seconds=30))  # the same car, same pass
    send("RST1284", timedelta(seconds=31))  # a one-character misread of it
    send("NEXT999", timedelta(seconds=32))  # a new car, to know the others were handled
    wait_for(lambda: "NEXT999" in passed(), 120, "the marker read")
    assert second.alive(), second.output()
    assert passed() == ["RST1234", "NEXT999"]
