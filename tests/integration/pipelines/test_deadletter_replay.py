"""`lprx deadletters replay` on the real servers: a read the store refused (the writer
role lost its grant), the cause fixed (`lprx setup` grants it again), replayed, stored
once; a second replay sends nothing."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.cassandra import CassandraStore, connect
from connectors.cassandra.security import WRITER_ROLE
from connectors.kafka.reader import read_topic
from connectors.kafka.sink import KafkaSink
from pipelines import cli
from pipelines.access import provision
from pipelines.cli import common
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.errors import StoreRejected
from schemas.records import AuditEvent, DeadLetter, utcnow
from tests.conftest import Process, free_port, settings_env, wait_for
from tests.factories import a_read

CODEC = SingleObjectCodec()
LOGIN = ["--purpose", "incident 26-77 store grant"]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


def writer_can_insert(settings: Settings, plate: str) -> bool:
    """Whether the writer role may write ``reads_by_plate`` now (Cassandra caches
    permissions for a couple of seconds)."""
    writer = settings.model_copy(update={"cassandra_username": WRITER_ROLE})
    with CassandraStore(writer, create_schema=False) as store:
        try:
            return store.write_reads([a_read(plate=plate, collected_at=utcnow())], utcnow())[0].ok
        except StoreRejected:
            return False


def test_a_refused_read_is_replayed_once_its_cause_is_fixed_and_stored_once(
    kafka_settings: Settings,
    spawn: Callable[[list[str], dict[str, str]], Process],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = kafka_settings.model_copy(
        update={"dedup_settle_seconds": 0.0, "store_batch_seconds": 0.1}
    )
    # The command logs in as its own principal (lprx-replay), not as the tests' admin.
    as_itself = settings.model_copy(
        update={"kafka_principal": None, "kafka_password": None, "kafka_password_file": None}
    )
    monkeypatch.setattr(common, "settings", lambda: as_itself)
    ks = settings.cassandra_keyspace
    env = settings_env(settings) | {"LPRX_TABLE_DATA_DIR": str(tmp_path / "faust")}
    worker = spawn(
        ["worker", "--stages", "normalize,store", "--metrics-port", str(free_port())], env
    )
    cluster, admin = connect(settings)
    try:
        admin.execute(f"REVOKE MODIFY ON TABLE {ks}.reads_by_plate FROM {WRITER_ROLE}")
        wait_for(lambda: not writer_can_insert(settings, "PRB0001"), 30, "the grant gone")
        refused = a_read(plate="RPL1234", camera_id="cam-replay", collected_at=utcnow())
        sink = KafkaSink(settings, "test-replay")
        sink.publish_read(refused)
        sink.flush(10)

        def letters() -> list[DeadLetter]:
            found = read_topic(settings, settings.topic("deadletter"), max_messages=100,
                               timeout_s=3)  # fmt: skip
            return [DeadLetter.decode(CODEC, m.value()) for m in found]

        (letter,) = wait_for(letters, 120, "the store's dead letter")
        assert (letter.stage, letter.source_topic) == ("store", settings.topic("reads"))
        assert worker.alive(), worker.output()

        provision(settings)  # `lprx setup`: the cause fixed
        wait_for(lambda: writer_can_insert(settings, "PRB0002"), 30, "the grant back")

        dry = invoke("deadletters", "replay", *LOGIN, "--stage", "store")
        assert dry.exit_code == 0, dry.output
        assert "would replay: 1" in dry.output
        assert letters() == [letter]  # a dry run sends nothing (nor marks anything)

        applied = invoke("deadletters", "replay", *LOGIN, "--stage", "store", "--apply")
        assert applied.exit_code == 0, applied.output
        assert "\nreplayed: 1 " in applied.output

        def stored() -> list[Any]:
            rows = admin.execute(
                f"SELECT read_id FROM {ks}.reads_by_plate WHERE plate = %s", ("RPL1234",)
            )
            return list(rows)

        rows = wait_for(stored, 60, "the replayed read stored")
        assert [r.read_id for r in rows] == [refused.read_id]

        again = invoke("deadletters", "replay", *LOGIN, "--stage", "store", "--apply")
        assert again.exit_code == 0, again.output
        assert "already replayed: 1" in again.output and "\nreplayed: 0 " in again.output
        copies = read_topic(settings, settings.topic("reads"), max_messages=100, timeout_s=3)
        assert sum(m.value() == letter.original_value for m in copies) == 2  # sent, replayed
        assert [r.read_id for r in stored()] == [refused.read_id]  # stored once
        assert worker.alive(), worker.output()
    finally:
        cluster.shutdown()

    audit = read_topic(settings, settings.topic("audit"), max_messages=100, timeout_s=3)
    events = [AuditEvent.decode(CODEC, m.value()) for m in audit]
    replays = [e for e in events if e.target_kind == "deadletter-replay"]
    assert [(e.actor, e.details["letters"], e.details["stage"]) for e in replays] == [
        (f"os:{getpass.getuser()}", "1", "store")
    ]
