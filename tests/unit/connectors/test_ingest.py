"""HTTP ingest with an in-memory sink: every kind of request and what becomes of it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from pydantic import SecretStr

from connectors.ingest.app import agency_for, create_ingest_app
from connectors.kafka.sink import MemorySink
from pipelines.settings import Settings
from schemas.errors import TransientError
from schemas.records import AuditAction, AuditOutcome, CameraKind, PlateRead

OWNER, OTHER = "MN9990001", "MN9990002"
SETTINGS = Settings(
    ingest_tokens={
        OWNER: SecretStr("secret-owner"),
        OTHER: SecretStr("secret-other"),
        "MN9990003": SecretStr(""),
    },
    ingest_max_body_bytes=10_000,
    retention_days_by_agency={OTHER: 30},
)
AUTH = {"Authorization": "Bearer secret-owner"}
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def client(sink: MemorySink) -> Iterator[TestClient]:
    with TestClient(create_ingest_app(SETTINGS, sink)) as client:
        yield client


def now_ms(delta: timedelta = timedelta()) -> int:
    return int((datetime.now(UTC) + delta).timestamp() * 1000)


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
        "epoch_time": epoch_ms or now_ms(),
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
        "data_type": "alpr_group", "camera_id": "hwy7", "epoch_start": now_ms(-timedelta(seconds=4)),
        "epoch_end": now_ms(), "gps_latitude": 44.9, "gps_longitude": -93.5,
        "best_plate_number": "GRP555", "best_confidence": 92.0, "best_region": "us-mn",
        "best_uuid": "b", "uuids": ["a", "b", "c"],
        "candidates": [{"plate": "GRP555", "confidence": 92.0}],
        "vehicle": {"color": [{"name": "red", "confidence": 90}], "make": [{"name": "ford"}],
                    "body_type": [{"name": "pickup"}]},
    }  # fmt: skip


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- good requests ---------------------------------------------------------------------------


def test_plain_read_is_published_with_retention_from_collection(
    client: TestClient, sink: MemorySink
) -> None:
    collected = datetime.now(UTC) - timedelta(days=2)
    before = datetime.now(UTC)
    response = client.post(
        "/v1/reads", json=plain(collected_at=collected.isoformat()), headers=AUTH
    )
    assert response.status_code == 202
    (read,) = sink.reads
    assert response.json()["read_ids"] == [read.read_id]
    assert read.agency_ori == OWNER and read.camera_kind is CameraKind.SQUAD_CAR
    assert read.collected_at == collected
    assert read.expires_at == collected + timedelta(days=60)
    assert before <= read.received_at <= datetime.now(UTC)
    (audit,) = sink.audits
    assert (audit.action, audit.actor, audit.actor_agency_ori) == (
        AuditAction.INGEST,
        "camera:cam-1",
        OWNER,
    )
    assert audit.details["count"] == "1" and audit.target_id == response.json()["request_id"]


def test_epoch_milliseconds_are_accepted(client: TestClient, sink: MemorySink) -> None:
    collected = now_ms(-timedelta(minutes=1))
    assert (
        client.post("/v1/reads", json=plain(collected_at=collected), headers=AUTH).status_code
        == 202
    )
    assert sink.reads[0].collected_at == datetime.fromtimestamp(collected / 1000, UTC)


def test_a_list_of_reads_is_audited_per_camera(client: TestClient, sink: MemorySink) -> None:
    body = [plain(plate="A1"), plain(plate="B2"), plain(plate="C3", camera_id="cam-2")]
    response = client.post("/v1/reads", json=body, headers=AUTH)
    assert response.status_code == 202 and [r.plate for r in sink.reads] == ["A1", "B2", "C3"]
    assert len(response.json()["read_ids"]) == 3
    assert sorted((a.actor, a.details["count"]) for a in sink.audits) == [
        ("camera:cam-1", "2"),
        ("camera:cam-2", "1"),
    ]


def test_an_empty_list_is_accepted_and_keeps_nothing(client: TestClient, sink: MemorySink) -> None:
    response = client.post("/v1/reads", json=[], headers=AUTH)
    assert response.status_code == 202 and response.json()["read_ids"] == []
    assert sink.reads == [] and sink.audits == [] and sink.dead_letters == []


def test_the_token_decides_the_agency_and_its_retention(
    client: TestClient, sink: MemorySink
) -> None:
    response = client.post(
        "/v1/reads",
        json=plain(agency_ori=OWNER),
        headers={"Authorization": "bearer secret-other"},  # the scheme is case-insensitive
    )
    assert response.status_code == 202
    read = sink.reads[0]
    assert read.agency_ori == OTHER
    assert read.expires_at == read.collected_at + timedelta(days=30)


def test_camera_kind_from_field_then_query_then_fixed(client: TestClient, sink: MemorySink) -> None:
    without_kind = {k: v for k, v in plain().items() if k != "camera_kind"}
    client.post("/v1/reads", json=without_kind, headers=AUTH)
    client.post("/v1/reads?camera_kind=TRAILER", json=without_kind, headers=AUTH)
    client.post("/v1/reads?camera_kind=TRAILER", json=plain(), headers=AUTH)
    assert [r.camera_kind for r in sink.reads] == [
        CameraKind.FIXED,
        CameraKind.TRAILER,
        CameraKind.SQUAD_CAR,
    ]
    assert client.post("/v1/reads?camera_kind=BLIMP", json=plain(), headers=AUTH).status_code == 422


def test_a_read_just_inside_the_clock_skew_is_accepted(client: TestClient) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    assert client.post("/v1/reads", json=plain(collected_at=soon), headers=AUTH).status_code == 202


def test_openalpr_results(client: TestClient, sink: MemorySink) -> None:
    body = alpr_results()
    response = client.post("/v1/openalpr?camera_kind=TRAILER", json=body, headers=AUTH)
    assert response.status_code == 202
    (read,) = sink.reads
    assert (read.plate, read.camera_id, read.camera_kind) == ("XYZ789", "42", CameraKind.TRAILER)
    assert read.collected_at == datetime.fromtimestamp(body["epoch_time"] / 1000, UTC)
    assert read.plate_box == (10, 20, 100, 40)
    assert [c.plate for c in read.candidates] == ["XYZ789", "XYZ78B"]
    assert read.source_ref == "u-1" and read.region_confidence == 80.0
    assert [a.actor for a in sink.audits] == ["camera:42"]


def test_openalpr_group_drops_vehicle_attributes(client: TestClient, sink: MemorySink) -> None:
    body = alpr_group()
    response = client.post("/v1/openalpr", json=body, headers=AUTH)
    assert response.status_code == 202
    (read,) = sink.reads
    assert read.plate == "GRP555" and read.frame_count == 3 and read.latitude == 44.9
    assert read.source_ref == "b" and read.camera_kind is CameraKind.FIXED
    assert read.collected_at == datetime.fromtimestamp(body["epoch_start"] / 1000, UTC)
    assert read.expires_at == read.collected_at + timedelta(days=60)
    wire = json.dumps(read.to_avro(), default=str).lower()
    assert "ford" not in wire and "red" not in wire and "color" not in wire
    assert "pickup" not in wire


@pytest.mark.parametrize("data_type", ["alpr_alert", "heartbeat", "vehicle", "from_the_future"])
def test_openalpr_messages_without_reads_are_acknowledged_and_not_kept(
    client: TestClient, sink: MemorySink, data_type: str
) -> None:
    body = {"data_type": data_type, "plate": "ABC123", "vehicle": {"make": "ford"}}
    response = client.post("/v1/openalpr", json=body, headers=AUTH)
    assert response.status_code == 202
    assert data_type in response.json()["ignored"]
    assert sink.reads == [] and sink.dead_letters == [] and sink.audits == []


# --- bad requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no token"),
        ({"Authorization": "Bearer wrong"}, "invalid token"),
        ({"Authorization": "secret-owner"}, "invalid token"),
        ({"Authorization": "Basic c2VjcmV0LW93bmVy"}, "invalid token"),
        ({"Authorization": "Bearer "}, "invalid token"),
        ({"Authorization": "Bearer secret-owner-and-more"}, "invalid token"),
    ],
    ids=["none", "wrong-token", "not-bearer", "basic", "empty", "prefix"],
)
def test_without_a_valid_token_nothing_is_kept_and_the_attempt_is_audited(
    client: TestClient, sink: MemorySink, headers: dict[str, str], reason: str
) -> None:
    response = client.post("/v1/reads", json=plain(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert sink.reads == [] and sink.dead_letters == []
    (audit,) = sink.audits
    assert (audit.action, audit.outcome) == (AuditAction.ACCESS_DENIED, AuditOutcome.DENIED)
    assert audit.details == {"reason": reason} and audit.actor.startswith("ip:")
    assert "secret" not in repr(audit)


def test_an_empty_configured_token_lets_nobody_in() -> None:
    tokens = {"MN9990003": b"", OWNER: b"secret-owner"}
    assert agency_for("Bearer ", tokens) is None
    assert agency_for("Bearer  ", tokens) is None
    assert agency_for("Bearer secret-owner", tokens) == OWNER


def test_oversized_body_is_refused(client: TestClient, sink: MemorySink) -> None:
    response = client.post("/v1/reads", content=b"[" + b" " * 20_000 + b"]", headers=JSON_AUTH)
    assert response.status_code == 413
    assert sink.reads == [] and sink.dead_letters == []


def test_oversized_body_without_a_length_is_refused_while_streaming(
    client: TestClient, sink: MemorySink
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(30):
            yield b" " * 1000
        yield b"]"

    response = client.post("/v1/reads", content=chunks(), headers=JSON_AUTH)
    assert response.status_code == 413 and sink.dead_letters == []


def test_an_unauthenticated_oversized_body_is_a_401(client: TestClient) -> None:
    response = client.post("/v1/reads", content=b" " * 20_000)
    assert response.status_code == 401


FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
INVALID_BODIES = [
    ("/v1/reads", b"{not json", "not JSON"),
    ("/v1/reads", b"\xff\xfe\x00garbage", "not JSON"),
    ("/v1/reads", b"", "not JSON"),
    ("/v1/reads", b'{"plate": "ABC123", "confidence": NaN}', "NaN"),
    ("/v1/reads", b"[" * 5000 + b"]" * 5000, "not JSON"),
    ("/v1/reads", json.dumps({"camera_id": "c", "collected_at": "2026-01-01T00:00:00Z", "confidence": 9}).encode(), "plate: Field required"),
    ("/v1/reads", json.dumps(plain(confidence="high")).encode(), "confidence"),
    ("/v1/reads", json.dumps(plain(latitude="north")).encode(), "latitude"),
    ("/v1/reads", json.dumps(plain(camera_id=["a"])).encode(), "camera_id"),
    ("/v1/reads", json.dumps(plain(collected_at="2026-11-23T10:00:00")).encode(), "time zone"),
    ("/v1/reads", json.dumps(plain(plate="--")).encode(), "characters"),
    ("/v1/reads", json.dumps(plain(collected_at=FUTURE)).encode(), "future"),
    ("/v1/reads", json.dumps([plain(), plain(collected_at=FUTURE)]).encode(), "read 1: collected_at"),
    ("/v1/reads", json.dumps([plain(), {"plate": 7}]).encode(), "read 1: plate"),
    ("/v1/reads", b'"ABC123"', "body"),
    ("/v1/openalpr", json.dumps([1, 2]).encode(), "JSON object"),
    ("/v1/openalpr", json.dumps({"results": []}).encode(), "data_type"),
    ("/v1/openalpr", json.dumps({**alpr_results(), "epoch_time": 10**17}).encode(), "epoch_time"),
    ("/v1/openalpr", json.dumps(alpr_results(now_ms(timedelta(hours=1)))).encode(), "future"),
    ("/v1/openalpr", json.dumps({**alpr_group(), "best_confidence": "92"}).encode(), "best_confidence"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "reason"), INVALID_BODIES)
def test_invalid_bodies_are_refused_and_dead_lettered_with_their_bytes(
    client: TestClient, sink: MemorySink, path: str, body: bytes, reason: str
) -> None:
    response = client.post(path, content=body, headers=JSON_AUTH)
    assert response.status_code == 422, response.text
    assert reason in response.json()["error"]
    (letter,) = sink.dead_letters
    assert letter.original_value == body and letter.stage == "ingest"
    assert reason in letter.reason and letter.error_type == "InvalidRecord"
    assert letter.original_headers["agency_ori"] == OWNER.encode()
    assert letter.source_topic == f"http:{path.removeprefix('/v1/')}"
    assert sink.reads == [] and sink.audits == []


def test_read_past_retention_is_refused_counted_and_not_dead_lettered(
    client: TestClient, sink: MemorySink
) -> None:
    before = metric("lprx_ingest_reads_total", outcome="expired")
    old = (datetime.now(UTC) - timedelta(days=61)).isoformat()
    response = client.post("/v1/reads", json=plain(collected_at=old), headers=AUTH)
    assert response.status_code == 422 and response.json()["error"] == "past retention"
    assert sink.reads == [] and sink.dead_letters == [] and sink.audits == []
    assert metric("lprx_ingest_reads_total", outcome="expired") == before + 1


def test_retention_is_the_agency_s(client: TestClient, sink: MemorySink) -> None:
    forty_days = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    other = {"Authorization": "Bearer secret-other"}
    assert (
        client.post("/v1/reads", json=plain(collected_at=forty_days), headers=other).status_code
        == 422
    )
    assert (
        client.post("/v1/reads", json=plain(collected_at=forty_days), headers=AUTH).status_code
        == 202
    )


def test_expired_reads_in_a_batch_are_dropped_and_the_rest_accepted(
    client: TestClient, sink: MemorySink
) -> None:
    old = (datetime.now(UTC) - timedelta(days=61)).isoformat()
    response = client.post(
        "/v1/reads", json=[plain(plate="OLD1", collected_at=old), plain(plate="NEW1")], headers=AUTH
    )
    assert response.status_code == 202 and response.json()["refused_past_retention"] == 1
    assert [r.plate for r in sink.reads] == ["NEW1"]


def test_a_refused_body_holding_an_expired_read_is_dead_lettered_without_its_bytes(
    client: TestClient, sink: MemorySink
) -> None:
    old = (datetime.now(UTC) - timedelta(days=61)).isoformat()
    body = [plain(plate="OLD1", collected_at=old), plain(plate="NEW1", collected_at=FUTURE)]
    response = client.post("/v1/reads", json=body, headers=AUTH)
    assert response.status_code == 422 and "future" in response.json()["error"]
    (letter,) = sink.dead_letters
    assert letter.original_value is None and b"OLD1" not in repr(letter).encode()
    assert "withheld" in letter.original_headers
    assert sink.reads == []


def test_a_full_kafka_queue_is_a_503(sink: MemorySink) -> None:
    class FullSink(MemorySink):
        async def publish_reads_acknowledged(
            self, reads: Sequence[PlateRead], timeout: float
        ) -> None:
            raise TransientError("queue full")

    with TestClient(create_ingest_app(SETTINGS, FullSink())) as client:
        response = client.post("/v1/reads", json=plain(), headers=AUTH)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"


def test_nothing_secret_or_plate_like_is_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/v1/reads", json=plain(plate="LOGME1"), headers=AUTH)
    client.post("/v1/reads", json=plain(plate="LOGME2", confidence="x"), headers=AUTH)
    client.post("/v1/reads", json=plain(plate="LOGME3"), headers={"Authorization": "Bearer nope"})
    assert "LOGME" not in caplog.text and "secret-owner" not in caplog.text
    assert "nope" not in caplog.text


# --- service endpoints -----------------------------------------------------------------------


def test_metrics_and_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    before = metric("lprx_ingest_requests_total", endpoint="reads", outcome="accepted")
    denied = metric("lprx_ingest_requests_total", endpoint="openalpr", outcome="unauthorized")
    client.post("/v1/reads", json=plain(), headers=AUTH)
    client.post("/v1/openalpr", json=alpr_results())
    assert metric("lprx_ingest_requests_total", endpoint="reads", outcome="accepted") == before + 1
    assert (
        metric("lprx_ingest_requests_total", endpoint="openalpr", outcome="unauthorized")
        == denied + 1
    )
    text = client.get("/metrics/").text
    assert 'lprx_ingest_latency_ms_bucket{endpoint="reads",le="0.5"}' in text
    assert 'lprx_ingest_latency_ms_bucket{endpoint="reads",le="30000.0"}' in text
    assert "secret-owner" not in text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["plate", "camera_id", "collected_at", "confidence", "data_type", "results",
             "epoch_time", "best_plate_number", "epoch_start", "candidates", "latitude"]
        ) | st.text(max_size=8),
        children,
        max_size=6,
    ),
    max_leaves=20,
)  # fmt: skip


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=JSON,
    path=st.sampled_from(["/v1/reads", "/v1/openalpr"]),
    data_type=st.sampled_from([None, "alpr_results", "alpr_group"]),
)
def test_no_body_is_a_server_error(
    client: TestClient, payload: Any, path: str, data_type: str | None
) -> None:
    if data_type and isinstance(payload, dict):
        payload = {**payload, "data_type": data_type}
    response = client.post(path, json=payload, headers=AUTH)
    assert response.status_code in (202, 422), response.text


def test_the_ingest_is_ready_only_while_kafka_answers(sink: MemorySink) -> None:
    with TestClient(create_ingest_app(SETTINGS, sink)) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        sink.unreachable = "Kafka does not answer: _TRANSPORT"
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["problem"] == "Kafka does not answer: _TRANSPORT"
        assert client.get("/healthz").status_code == 200  # still live
