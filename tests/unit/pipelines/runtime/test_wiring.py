"""A ``DeliveredTable`` waits for its changelog records: until Kafka acknowledges each
one sent, and raising when one was refused (Kafka itself in the restart tests,
``tests/integration/pipelines/test_dedup_restart.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from faust.tables.base import Collection
from faust.utils import json as faust_json

from pipelines.runtime.app import create_pipeline, make_app
from pipelines.runtime.wiring import DeliveredTable, JsonValues
from pipelines.settings import Settings
from schemas.errors import SendUnacknowledged
from tests.unit.pipelines.runtime.runtime_doubles import run

Sends = list[asyncio.Future[Any]]


@pytest.fixture
def table_and_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[DeliveredTable, Sends]:
    """A real table of a worker's Faust app, and the futures of the changelog records it
    sent, for the test to answer as Kafka would."""
    settings = Settings(table_data_dir=tmp_path, kafka_security_protocol="PLAINTEXT")
    app = make_app(settings, "lprx-normalize")
    sends: Sends = []

    def send_changelog(self: Any, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        sent: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        sends.append(sent)
        return sent

    # Faust's own send (to its producer's buffer), as the table's base class makes it.
    monkeypatch.setattr(Collection, "send_changelog", send_changelog)
    return DeliveredTable(app, name="dedup-vehicle-passes", partitions=2), sends


def test_it_returns_once_every_changelog_record_sent_is_acknowledged(
    table_and_sends: tuple[DeliveredTable, Sends],
) -> None:
    table, sends = table_and_sends

    async def scenario() -> None:
        await table.changelog_delivered()  # nothing sent: nothing to wait for
        table.send_changelog(0, "cam-1/A", {"held": None})
        table.send_changelog(1, "cam-2/B", {"held": None})
        waiting = asyncio.ensure_future(table.changelog_delivered())
        sends[0].set_result("offset 0")
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the second is still in flight
        sends[1].set_result("offset 0")
        await asyncio.wait_for(waiting, 1)
        await table.changelog_delivered()  # done ones are not waited for again

    run(scenario())


def test_a_wait_cancelled_leaves_the_records_in_flight(
    table_and_sends: tuple[DeliveredTable, Sends],
) -> None:
    table, sends = table_and_sends

    async def scenario() -> None:
        table.send_changelog(0, "cam-1/A", {"held": None})
        waiting = asyncio.ensure_future(table.changelog_delivered())
        await asyncio.sleep(0.01)
        waiting.cancel()  # the worker stopping
        await asyncio.sleep(0.01)
        assert waiting.cancelled()
        assert not sends[0].done()  # still Kafka's to acknowledge
        sends[0].set_result("offset 0")
        await asyncio.wait_for(table.changelog_delivered(), 1)

    run(scenario())


def test_a_refused_changelog_record_is_raised_to_every_later_wait(
    table_and_sends: tuple[DeliveredTable, Sends],
) -> None:
    table, sends = table_and_sends

    async def scenario() -> None:
        table.send_changelog(0, "cam-1/A", {"held": None})
        sends[0].set_exception(TimeoutError("no broker"))
        await asyncio.sleep(0)  # its done-callback runs
        for _ in range(2):  # the table holds a write its changelog lacks, for good
            with pytest.raises(SendUnacknowledged, match="no broker"):
                await table.changelog_delivered()

    run(scenario())


def test_json_values_are_encoded_once_and_read_as_faust_wrote_them() -> None:
    stored: dict[str, Any] = {}
    values = JsonValues(stored)
    values["cam-1/ABC123"] = {"partition": 2, "held": None, "recent_ids": ["r-1"]}
    assert stored["cam-1/ABC123"] == b'{"partition":2,"held":null,"recent_ids":["r-1"]}'
    # An entry written before, by Faust's json serializer, reads the same.
    stored["cam-2/XYZ9"] = faust_json.dumps({"partition": 0, "held": "QUJD"}).encode()
    assert values["cam-2/XYZ9"] == {"partition": 0, "held": "QUJD"}
    assert dict(values.items()) == {
        "cam-1/ABC123": {"partition": 2, "held": None, "recent_ids": ["r-1"]},
        "cam-2/XYZ9": {"partition": 0, "held": "QUJD"},
    }
    assert "cam-2/XYZ9" in values and len(values) == 2
    del values["cam-2/XYZ9"]
    assert list(values) == ["cam-1/ABC123"]


def test_the_dedup_table_stores_the_bytes_it_is_given(tmp_path: Path) -> None:
    """Faust serializes nothing more: its store and its changelog get the same bytes."""
    settings = Settings(
        table_data_dir=tmp_path, kafka_security_protocol="PLAINTEXT", worker_stages=["normalize"]
    )
    table = create_pipeline(settings).app.tables["dedup-vehicle-passes"]
    assert table.value_serializer == "raw"
    assert table.key_serializer == "json"  # the keys the changelog holds already


def test_table_writes_waiting_to_be_produced_do_not_stop_the_workers_agents(
    tmp_path: Path,
) -> None:
    """Faust's conductor waits for its producer buffer to drain before it hands any agent
    its next record, once more than ``max_messages`` wait: with Faust's 100, a burst of
    dedup's writes held back every read (and so every hit) of the worker."""
    settings = Settings(
        table_data_dir=tmp_path,
        kafka_security_protocol="PLAINTEXT",
        worker_producer_buffer_messages=2_000,
    )
    buffer = make_app(settings, "lprx-normalize").producer.buffer
    assert buffer.max_messages == 2_000
    for _ in range(1_500):  # a burst of writes not yet handed to Kafka's client
        buffer.pending.put_nowait(object())

    async def conductor_waits() -> None:
        await asyncio.wait_for(buffer.wait_until_ebb(), timeout=1)

    run(conductor_waits())  # returns at once: it would flush (and, stopped, raise) past 2,000
    assert buffer.size == 1_500
