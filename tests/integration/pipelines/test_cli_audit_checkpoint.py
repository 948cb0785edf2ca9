"""`lprx audit checkpoint` as the chart's CronJob runs it: secrets under LPRX_CACHE_DIR
(its own principal's passwords, the signing key mounted from its Secret), a missing key
an error; the principal can do nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from connectors.cassandra import CassandraStore, connect
from connectors.cassandra import security as cassandra_security
from connectors.cassandra.audit_queries import AuditChainQueries
from connectors.cassandra.rows import audit_day
from connectors.cassandra.security import CHECKPOINT_ROLE, WRITER_ROLE
from connectors.kafka import acls
from connectors.kafka import security as kafka_security
from connectors.security.files import read_secret, write_secret
from connectors.security.signing import key_id, private_key_file
from pipelines import cli
from pipelines.cli import common
from pipelines.services.audit_chain import load_and_verify
from pipelines.settings import Settings
from schemas.records import AuditAction, AuditEvent, new_id, utcnow
from tests.conftest import provision, unique_settings


@pytest.fixture
def settings(servers: Settings) -> Iterator[Settings]:
    settings = provision(unique_settings(servers, topic_partitions=1))
    yield settings
    cluster, admin = connect(settings)
    try:
        admin.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
    finally:
        cluster.shutdown()


def pod_settings(settings: Settings, cache_dir: Path) -> Settings:
    """The CronJob's layout: its own principal's passwords (and nobody else's) under
    <cache>/secrets by role, as the chart's Secret credentials.auditCheckpoint mounts them."""
    secrets = cache_dir / "secrets"
    kafka = kafka_security.password_file(settings, acls.CHECKPOINT)
    cassandra = cassandra_security.password_file(settings, CHECKPOINT_ROLE)
    write_secret(secrets / "kafka" / kafka.name, read_secret(kafka).get_secret_value())
    write_secret(secrets / "cassandra" / cassandra.name,
                 read_secret(cassandra).get_secret_value())  # fmt: skip
    return settings.model_copy(update={
        "cache_dir": cache_dir, "kafka_principal": None, "cassandra_username": None,
        "kafka_password": None, "kafka_password_file": None,
        "cassandra_password": None, "cassandra_password_file": None,
        "kafka_ca_file": kafka_security.ca_file(settings),
        "cassandra_ca_file": settings.cassandra_ca_file or settings.default_ca_file,
        "audit_signing_key_required": True,
    })  # fmt: skip


def test_the_cronjob_signs_with_the_mounted_key_and_never_makes_one(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency = "MN9990300"
    now = utcnow().replace(microsecond=0)
    batch = [
        AuditEvent(new_id(), now + timedelta(milliseconds=i), "j.doe", AuditAction.SEARCH,
                   "query", f"plate=CK{i}", actor_agency_ori=agency, purpose="case 26-0043")
        for i in range(3)
    ]  # fmt: skip
    writer = settings.model_copy(update={"cassandra_username": WRITER_ROLE})
    with CassandraStore(writer, create_schema=False) as store:
        assert all(outcome.ok for outcome in store.write_audit(batch))
    pod = pod_settings(settings, tmp_path)
    monkeypatch.setattr(common, "settings", lambda: pod)
    runner = CliRunner()

    missing = runner.invoke(cli.app, ["audit", "checkpoint"])
    assert missing.exit_code == 1 and "no checkpoint signing key" in missing.output
    assert not private_key_file(pod.secrets_dir).exists()

    key = Ed25519PrivateKey.generate()
    write_secret(private_key_file(pod.secrets_dir), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    signed = runner.invoke(cli.app, ["audit", "checkpoint"])
    assert signed.exit_code == 0, signed.output
    assert f"signed {agency} seq 3" in signed.output
    day = audit_day(utcnow())
    with CassandraStore(settings, create_schema=False) as admin:
        queries = AuditChainQueries(admin.session, admin.keyspace)
        result = load_and_verify(
            queries, agency, day, day, {key_id(key.public_key()): key.public_key()}
        )
    assert result.intact and result.checkpoints_checked == 1
