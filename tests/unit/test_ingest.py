"""HTTP ingest with an in-memory sink: every kind of request and what becomes of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from connectors.ingest import create_ingest_app
from connectors.sink import MemorySink
from pipelines.records import AuditAction, CameraKind
from pipelines.settings import Settings

OWNER = "MN9990001"
SETTINGS = Settings(
    ingest_tokens={OWNER: SecretStr("secret-owner"), "MN9990002": SecretStr("secret-other")},
    ingest_max_body_bytes=10_000,
    retention_days_by_agency={"MN9990002": 30},
)
AUTH = {"Authorization": "Bearer secret-owner"}


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def client(sink: MemorySink) -> TestClient:
    return TestClient(create_ingest_app(SETTINGS, sink))


def plain(**overrides: Any) -> dict[str, Any]:
    body = {
        "plate": "ABC123",
        "camera_id": "cam-1",
        "camera_kind": "SQUAD_CAR",
        "collected_at": datetime.now(UTC).isoformat(),
        "latitude": 44.9,
        "longitude": -93.2,
        "region": "us-mn",
        "confidence": 91.0,
    }
    body.update(overrides)
    return body


def alpr_results(epoch_ms: int | None = None) -> dict[str, Any]:
    return {
        "version": 2, "data_type": "alpr_results", "camera_id": 42, "uuid": "u-1",
        "epoch_time": epoch_ms or int(datetime.now(UTC).timestamp() * 1000),
        "results": [{
            "plate": "XYZ789", "confidence": 94.2, "region": "us-mn", "region_confidence": 80,
            "coordinates": [{"x": 10, "y": 20}, {"x": 110, "y": 20}, {"x": 110, "y": 60},
                            {"x": 10, "y": 60}],
            "candidates": [{"plate": "XYZ789", "confidence": 94.2, "matches_template": 1},
                           {"plate": "XYZ78B", "confidence": 80.1, "matches_template": 0}],
            "vehicle_region": {"x": 0, "y": 0, "width": 500, "height": 400},
        }],
    }  # fmt: skip


def alpr_group() -> dict[str, Any]:
    return {
        "data_type": "alpr_group", "camera_id": "hwy7", "epoch_start": 1795400000000,
        "epoch_end": 1795400001000, "gps_latitude": 44.9, "gps_longitude": -93.5,
        "best_plate_number": "GRP555", "best_confidence": 92.0, "best_region": "us-mn",
        "uuids": ["a", "b", "c"], "candidates": [{"plate": "GRP555", "confidence": 92.0}],
        "vehicle": {"color": [{"name": "red", "confidence": 90}], "make": [{"name": "ford"}]},
    }  # fmt: skip


def test_plain_read_is_published_with_retention_from_collection(
    client: TestClient, sink: MemorySink
) -> None:
    collected = datetime.now(UTC) - timedelta(days=2)
    response = client.post(
        "/v1/reads", json=plain(collected_at=collected.isoformat()), headers=AUTH
    )
    assert response.status_code == 202
    (read,) = sink.reads
    assert response.json()["read_ids"] == [read.read_id]
    assert read.agency_ori == OWNER and read.camera_kind is CameraKind.SQUAD_CAR
    assert read.expires_at == read.collected_at + timedelta(days=60)
    assert [a.action for a in sink.audits] == [AuditAction.INGEST]


def test_a_list_of_reads(client: TestClient, sink: MemorySink) -> None:
    response = client.post("/v1/reads", json=[plain(plate="A1"), plain(plate="B2")], headers=AUTH)
    assert response.status_code == 202 and [r.plate for r in sink.reads] == ["A1", "B2"]


def test_agency_retention_applies(client: TestClient, sink: MemorySink) -> None:
    response = client.post(
        "/v1/reads", json=plain(), headers={"Authorization": "Bearer secret-other"}
    )
    assert response.status_code == 202
    read = sink.reads[0]
    assert read.agency_ori == "MN9990002"
    assert read.expires_at == read.collected_at + timedelta(days=30)


def test_openalpr_results(client: TestClient, sink: MemorySink) -> None:
    response = client.post("/v1/openalpr?camera_kind=TRAILER", json=alpr_results(), headers=AUTH)
    assert response.status_code == 202
    (read,) = sink.reads
    assert (read.plate, read.camera_id, read.camera_kind) == ("XYZ789", "42", CameraKind.TRAILER)
    assert read.plate_box == (10, 20, 100, 40)
    assert [c.plate for c in read.candidates] == ["XYZ789", "XYZ78B"]
    assert read.source_ref == "u-1"


def test_openalpr_group_drops_vehicle_attributes(client: TestClient, sink: MemorySink) -> None:
    response = client.post("/v1/openalpr", json=alpr_group(), headers=AUTH)
    assert response.status_code == 202
    (read,) = sink.reads
    assert read.plate == "GRP555" and read.frame_count == 3 and read.latitude == 44.9
    assert read.collected_at == datetime.fromtimestamp(1795400000, UTC)
    wire = json.dumps(read.to_avro(), default=str).lower()
    assert "ford" not in wire and "red" not in wire and "color" not in wire


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "secret-owner"}],
    ids=["none", "wrong-token", "not-bearer"],
)  # fmt: skip
def test_without_a_valid_token_nothing_is_kept_and_the_attempt_is_audited(
    client: TestClient, sink: MemorySink, headers: dict[str, str]
) -> None:
    response = client.post("/v1/reads", json=plain(), headers=headers)
    assert response.status_code == 401
    assert sink.reads == [] and sink.dead_letters == []
    assert [a.action for a in sink.audits] == [AuditAction.ACCESS_DENIED]


def test_oversized_body_is_refused(client: TestClient, sink: MemorySink) -> None:
    response = client.post("/v1/reads", content=b"[" + b" " * 20_000 + b"]", headers=AUTH)
    assert response.status_code == 413 and sink.reads == []


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/reads", b"{not json", "not JSON"),
        ("/v1/reads", json.dumps({"camera_id": "c", "collected_at": "2026-01-01T00:00:00Z", "confidence": 9}).encode(), "plate"),
        ("/v1/reads", json.dumps(plain(confidence="high")).encode(), "confidence"),
        ("/v1/reads", json.dumps(plain(collected_at="2026-11-23T10:00:00")).encode(), "time zone"),
        ("/v1/reads", json.dumps(plain(plate="--")).encode(), "characters"),
        ("/v1/reads", json.dumps(plain(collected_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat())).encode(), "future"),
        ("/v1/openalpr", json.dumps({"data_type": "alpr_alert"}).encode(), "not a read"),
        ("/v1/openalpr", json.dumps([1, 2]).encode(), "JSON object"),
        ("/v1/openalpr", b"\xff\xfe\x00garbage", "not JSON"),
    ],
    ids=["not-json", "no-plate", "wrong-type", "naive-time", "empty-plate", "future", "alert", "array", "binary"],
)  # fmt: skip
def test_invalid_bodies_are_refused_and_dead_lettered_with_their_bytes(
    client: TestClient, sink: MemorySink, path: str, body: bytes, reason: str
) -> None:
    response = client.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert reason in response.json()["error"]
    (letter,) = sink.dead_letters
    assert letter.original_value == body and letter.stage == "ingest"
    assert reason in letter.reason
    assert sink.reads == []


def test_read_past_retention_is_refused_and_not_dead_lettered(
    client: TestClient, sink: MemorySink
) -> None:
    old = (datetime.now(UTC) - timedelta(days=61)).isoformat()
    response = client.post("/v1/reads", json=plain(collected_at=old), headers=AUTH)
    assert response.status_code == 422 and "retention" in response.json()["error"]
    assert sink.reads == [] and sink.dead_letters == []


def test_expired_reads_in_a_batch_are_dropped_and_the_rest_accepted(
    client: TestClient, sink: MemorySink
) -> None:
    old = (datetime.now(UTC) - timedelta(days=61)).isoformat()
    response = client.post(
        "/v1/reads", json=[plain(plate="OLD1", collected_at=old), plain(plate="NEW1")], headers=AUTH
    )
    assert response.status_code == 202 and response.json()["refused_past_retention"] == 1
    assert [r.plate for r in sink.reads] == ["NEW1"]


def test_metrics_and_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/v1/reads", json=plain(), headers=AUTH)
    text = client.get("/metrics/").text
    assert 'lprx_ingest_requests_total{endpoint="reads",outcome="accepted"}' in text
    assert "lprx_ingest_latency_ms_bucket" in text
    assert "secret-owner" not in text
