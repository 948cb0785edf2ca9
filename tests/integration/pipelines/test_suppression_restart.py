"""Hit suppression survives a share worker restart (the ``hit-alerts`` changelog, committed
with the input in Kafka transactions; real Kafka): a car's repeat hit is not re-alerted
by the worker that takes over."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from connectors.kafka.reader import read_values
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.keys import hit_key
from schemas.records import Hit, utcnow
from tests.conftest import Process, free_port, settings_env, wait_for
from tests.factories import a_hit, a_read, an_entry

CODEC = SingleObjectCodec()
OWNER = "MN9990001"


def test_a_restarted_share_worker_does_not_re_alert_a_repeat(
    kafka_settings: Settings,
    spawn: Callable[[list[str], dict[str, str]], Process],
    tmp_path: Path,
) -> None:
    from connectors.kafka.topics import make_producer

    settings = kafka_settings.model_copy(update={"hit_suppression_seconds": 600.0})
    producer = make_producer(settings, "test-suppression")
    now = utcnow()

    def send(plate: str, at: timedelta, entry_id: str = "stolen:MN:RPT123") -> Hit:
        hit = a_hit(
            read=a_read(plate=plate, agency_ori=OWNER, collected_at=now + at),
            entry=an_entry(entry_id=entry_id, plate=plate, owning_agency_ori=OWNER),
            matched_at=now + at,
        )
        producer.produce(settings.topic("hits"), key=hit_key(hit), value=hit.encode(CODEC))
        producer.flush(10)
        return hit

    def alerted() -> list[Hit]:
        values = read_values(settings, settings.partner_hits_topic(OWNER), 100, 2)
        return [Hit.decode(CODEC, v) for v in values]

    def start_worker(data_dir: Path) -> Process:
        env = settings_env(settings) | {"LPRX_TABLE_DATA_DIR": str(data_dir)}
        args = ["worker", "--stages", "share", "--metrics-port", str(free_port())]
        return spawn(args, env)

    first_worker = start_worker(tmp_path / "first")
    first = send("RPT123", timedelta(0))
    wait_for(alerted, 120, "the first alert")
    first_worker.stop()

    # A new machine: no local state, only what the changelog topic kept (the data dir
    # of Faust tables is another folder, and share keeps nothing there).
    second_worker = start_worker(tmp_path / "second")
    send("RPT123", timedelta(minutes=2))  # the same car again: a repeat
    send("RPT1Z3", timedelta(minutes=3))  # read with Z for 2, a confusable: a repeat too
    after_window = send("RPT123", timedelta(minutes=11))  # past the window: news again
    marker = send("MRK999", timedelta(minutes=4), entry_id="stolen:MN:MRK999")
    wait_for(lambda: len(alerted()) >= 3, 120, "the marker and the hit after the window")
    assert second_worker.alive(), second_worker.output()
    assert [h.hit_id for h in alerted()] == [first.hit_id, after_window.hit_id, marker.hit_id]
