"""HTTP ingest on a real uvicorn server, producing to a real Kafka broker.

Each test has its own topics (a unique LPRX_TOPIC_PREFIX). Needs only Kafka; starts the
local one if it is not running.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from connectors.ingest.app import create_ingest_app
from connectors.kafka.acls import INGEST
from connectors.kafka.sink import KafkaSink
from pipelines.access import Role, as_role
from pipelines.settings import Settings
from schemas import codec_for
from schemas.people import Role as PeopleRole
from schemas.records import AuditAction, AuditEvent, DeadLetter, PlateRead
from tests.conftest import as_principal, consume, provision
from tests.integration.pipelines.served import Cli, person, served_api

pytestmark = pytest.mark.integration

OWNER = "MN9990001"
TOKEN = "integration-token"


def kafka_reachable(settings: Settings) -> bool:
    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.setenv("LPRX_INGEST_CREDENTIALS_FILE", str(tmp_path / "cameras.json"))
    monkeypatch.setenv("LPRX_TOPIC_PREFIX", f"test-ingest-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("LPRX_TOPIC_PARTITIONS", "1")
    monkeypatch.setenv("LPRX_INGEST_TOKENS", json.dumps({OWNER: TOKEN}))
    settings = as_role(Settings(), Role.SETUP)
    if not kafka_reachable(settings):
        from connectors.servers import up

        up(settings, ("kafka",))
    return provision(settings)


@dataclass
class Ingest:
    url: str
    sink: KafkaSink


@pytest.fixture
def ingest(settings: Settings) -> Iterator[Ingest]:
    """The ingest app on a real HTTP port, in a thread of this process."""
    sink = KafkaSink(as_principal(settings, INGEST), "test-ingest")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_ingest_app(settings, sink), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "ingest did not start"
        time.sleep(0.05)
    yield Ingest(f"http://127.0.0.1:{port}", sink)
    server.should_exit = True
    thread.join(15)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_posted_reads_arrive_decoded_in_reads_raw(settings: Settings, ingest: Ingest) -> None:
    collected = datetime.now(UTC) - timedelta(seconds=5)
    collected -= timedelta(microseconds=collected.microsecond % 1000)  # Avro keeps milliseconds
    plain = {
        "plate": "ING123",
        "camera_id": "cam-9",
        "camera_kind": "SQUAD_CAR",
        "collected_at": collected.isoformat(),
        "latitude": 44.95,
        "longitude": -93.1,
        "region": "us-mn",
        "confidence": 90.5,
    }
    group = {
        "data_type": "alpr_group", "camera_id": 77, "epoch_start": int(collected.timestamp() * 1000),
        "best_plate_number": "GRP777", "best_confidence": 88.0, "best_region": "us-mn",
        "uuids": ["g1", "g2"], "gps_latitude": 44.9, "gps_longitude": -93.3,
        "vehicle": {"make": [{"name": "volvo", "confidence": 90}]},
    }  # fmt: skip
    ready = httpx.get(f"{ingest.url}/readyz", timeout=10)
    assert ready.json() == {"status": "ready"}  # Kafka answers the ingest's own principal
    first = httpx.post(f"{ingest.url}/v1/reads", json=plain, headers=AUTH, timeout=10)
    second = httpx.post(
        f"{ingest.url}/v1/openalpr?camera_kind=TRAILER", json=group, headers=AUTH, timeout=10
    )
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert ingest.sink.flush(10) == 0 and ingest.sink.failed == 0

    codec = codec_for(settings.schema_registry_url)
    messages = consume(settings, "reads.raw", 2)
    reads = {m.key(): PlateRead.decode(codec, m.value()) for m in messages}
    assert set(reads) == {b"cam-9", b"77"}
    read = reads[b"cam-9"]
    assert [read.read_id] == first.json()["read_ids"]
    assert (read.plate, read.agency_ori, read.camera_kind.value) == ("ING123", OWNER, "SQUAD_CAR")
    assert read.collected_at == collected
    assert read.expires_at == collected + timedelta(days=settings.retention_for(OWNER))
    assert (read.latitude, read.longitude, read.confidence) == (44.95, -93.1, 90.5)
    grouped = reads[b"77"]
    assert (grouped.plate, grouped.frame_count, grouped.camera_kind.value) == (
        "GRP777",
        2,
        "TRAILER",
    )
    assert all(b"volvo" not in (m.value() or b"") for m in messages)

    audits = [AuditEvent.decode(codec, m.value()) for m in consume(settings, "audit", 2)]
    assert sorted((a.action, a.actor, a.actor_agency_ori) for a in audits) == [
        (AuditAction.INGEST, "camera:77", OWNER),
        (AuditAction.INGEST, "camera:cam-9", OWNER),
    ]


def test_refused_posts_keep_what_they_should_and_nothing_else(
    settings: Settings, ingest: Ingest
) -> None:
    malformed = b'{"plate": "BAD123", "camera_id": "cam-9", "confidence": '
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    expired = {"plate": "OLD123", "camera_id": "cam-9", "collected_at": old, "confidence": 90}
    with httpx.Client(base_url=ingest.url, timeout=10) as client:
        json_headers = {**AUTH, "Content-Type": "application/json"}
        assert client.post("/v1/reads", content=malformed, headers=json_headers).status_code == 422
        assert client.post("/v1/reads", json=expired, headers=AUTH).status_code == 422
        assert client.post("/v1/reads", json=expired).status_code == 401
    assert ingest.sink.flush(10) == 0 and ingest.sink.failed == 0

    codec = codec_for(settings.schema_registry_url)
    (message,) = consume(settings, "deadletter", 2, timeout=5)
    letter = DeadLetter.decode(codec, message.value())
    assert letter.original_value == malformed
    assert (letter.stage, letter.error_type) == ("ingest", "InvalidRecord")
    assert "not JSON" in letter.reason
    assert letter.original_headers["agency_ori"] == OWNER.encode()
    # The expired read was destroyed, not kept anywhere; the unauthenticated one too.
    assert consume(settings, "reads.raw", 1, timeout=3) == []
    (denied,) = [AuditEvent.decode(codec, m.value()) for m in consume(settings, "audit", 2, 5)]
    assert denied.action is AuditAction.ACCESS_DENIED and denied.details == {"reason": "no token"}


def test_reads_kafka_does_not_acknowledge_get_503_with_retry_after(settings: Settings) -> None:
    """A broker that is down: the camera is told to retry, never told its reads were taken."""
    from fastapi.testclient import TestClient

    from tests.conftest import free_port

    down = settings.model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "ingest_ack_timeout_seconds": 1.0,
        }
    )
    sink = KafkaSink(down, "test-ingest-down")
    read = {
        "plate": "ACK123",
        "camera_id": "cam-1",
        "collected_at": datetime.now(UTC).isoformat(),
        "confidence": 90,
    }
    try:
        with TestClient(create_ingest_app(down, sink)) as client:
            started = time.monotonic()
            response = client.post("/v1/reads", json=read, headers=AUTH)
            waited = time.monotonic() - started
            not_ready = client.get("/readyz")
    finally:
        sink.close(timeout=1.0)  # the record never delivered is dropped, unacknowledged
    assert sink.failed == 1
    with pytest.raises(RuntimeError, match="closed"):  # its threads stopped trying
        sink.reachable(1.0)
    assert not_ready.status_code == 503 and "Kafka does not answer" in not_ready.text
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert 1.0 <= waited < 5.0


def test_a_202_comes_only_after_kafka_has_the_reads(settings: Settings, ingest: Ingest) -> None:
    read = {
        "plate": "ACK456",
        "camera_id": "cam-2",
        "collected_at": datetime.now(UTC).isoformat(),
        "confidence": 90,
    }
    response = httpx.post(f"{ingest.url}/v1/reads", json=read, headers=AUTH, timeout=15)
    assert response.status_code == 202
    # No flush: the read is on the topic already when the camera hears 202.
    codec = codec_for(settings.schema_registry_url)
    (message,) = consume(settings, "reads.raw", 1, timeout=5)
    assert [PlateRead.decode(codec, message.value()).read_id] == response.json()["read_ids"]


@pytest.fixture
def admin_cli(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI logged in as OWNER's administrator, with the API on its own keyspace (the
    API writes the credentials file the ingest reads)."""
    from connectors.cassandra import CassandraStore
    from pipelines.cli import common

    api = provision(settings.model_copy(
        update={"cassandra_keyspace": f"test_{uuid.uuid4().hex[:10]}"}))  # fmt: skip
    monkeypatch.setattr(common, "settings", lambda: api)
    try:
        with served_api(api) as url:
            cli = Cli(url, tmp_path / "home", monkeypatch)
            cli.login("admin.cam", person(api, "admin.cam", OWNER, PeopleRole.AGENCY_ADMIN))
            yield cli
    finally:
        with CassandraStore(api, create_schema=False) as store:
            store.session.execute(f"DROP KEYSPACE IF EXISTS {api.cassandra_keyspace}")


def test_a_camera_posts_as_itself_only_and_a_revoked_credential_is_refused_in_seconds(
    settings: Settings, ingest: Ingest, tmp_path: Path, admin_cli: Cli
) -> None:
    token_file = tmp_path / "cam-5.token"
    added = admin_cli("cameras", "add", "cam-5", "--kind", "TRAILER", "--token-file",
                      str(token_file))  # fmt: skip
    assert added.exit_code == 0, added.output
    listing = admin_cli("cameras", "list")
    assert "cam-5" in listing.output and "lprxc." not in listing.output  # never a secret
    auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    collected = datetime.now(UTC) - timedelta(seconds=5)
    body = {"plate": "CAM555", "camera_id": "cam-5", "camera_kind": "FIXED",
            "collected_at": collected.isoformat(), "confidence": 91.0}  # fmt: skip
    own = httpx.post(f"{ingest.url}/v1/reads", json=body, headers=auth, timeout=10)
    assert own.status_code == 202, own.text
    other = httpx.post(
        f"{ingest.url}/v1/reads", json={**body, "camera_id": "cam-6"}, headers=auth, timeout=10
    )
    assert other.status_code == 403, other.text
    assert ingest.sink.flush(10) == 0 and ingest.sink.failed == 0
    codec = codec_for(settings.schema_registry_url)
    reads = [PlateRead.decode(codec, m.value()) for m in consume(settings, "reads.raw", 2, 5)]
    assert [(r.camera_id, r.camera_kind.value, r.agency_ori) for r in reads] == [
        ("cam-5", "TRAILER", OWNER)  # the credential's kind, not the body's
    ]
    events = [AuditEvent.decode(codec, m.value()) for m in consume(settings, "audit", 10, 5)]
    audits = [a for a in events if a.actor.startswith("camera:")]
    assert ("admin.cam", "camera", "cam-5") in {(a.actor, a.target_kind, a.target_id)
                                                for a in events}  # fmt: skip
    assert sorted((a.action, a.actor) for a in audits) == [
        (AuditAction.ACCESS_DENIED, "camera:cam-5"),
        (AuditAction.INGEST, "camera:cam-5"),
    ]

    assert admin_cli("cameras", "revoke", "cam-5").exit_code == 0
    revoked = time.monotonic()
    while (status := httpx.post(
        f"{ingest.url}/v1/reads", json=body, headers=auth, timeout=10
    ).status_code) == 202:  # fmt: skip
        assert time.monotonic() - revoked < 5, "the revoked camera was still let in"
        time.sleep(0.2)
    assert status == 401
