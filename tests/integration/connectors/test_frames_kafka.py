"""The frame producer writing to a real Kafka broker's frames topic.

Each test has its own topics (a unique LPRX_TOPIC_PREFIX). Needs only Kafka; starts the
local one if it is not running.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from connectors.cameras.frames import FrameCamera, send_frames
from connectors.ingest.app import create_ingest_app
from connectors.kafka.acls import INGEST
from connectors.kafka.sink import KafkaSink
from pipelines.access import Role, as_role
from pipelines.settings import Settings
from schemas import codec_for
from schemas.records import AuditAction, AuditEvent, CameraKind, Frame
from tests.conftest import as_principal, consume, provision

pytestmark = pytest.mark.integration


def kafka_reachable(settings: Settings) -> bool:
    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LPRX_TOPIC_PREFIX", f"test-frames-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("LPRX_TOPIC_PARTITIONS", "1")
    settings = as_role(Settings(), Role.SETUP)
    if not kafka_reachable(settings):
        from connectors.servers import up

        up(settings, ("kafka",))
    return provision(settings)


def test_frames_from_a_folder_arrive_in_the_frames_topic(
    settings: Settings, tmp_path: Path
) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.jpg"), np.full((480, 640, 3), 40 * i + 20, np.uint8))
    # A full-HD frame of noise is a JPEG over Kafka's 1 MB default message size.
    noise = np.random.default_rng(1).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "f3.png"), noise)
    (tmp_path / "f4.jpg").write_bytes(b"\xff\xd8 truncated")
    camera = FrameCamera(
        "deli-cam", "MN9990001", CameraKind.PARTNER, 44.97, -93.27, "Main St Deli", "C-2026-17"
    )
    sink = KafkaSink(as_principal(settings, INGEST), "test-frames")
    before = datetime.now(UTC)

    report = send_frames(settings, sink, str(tmp_path), camera)

    assert (report.sent, report.skipped_unreadable, report.unreadable) == (4, 1, ["f4.jpg"])
    assert report.undelivered == 0 and sink.failed == 0
    codec = codec_for(settings.schema_registry_url)
    messages = consume(settings, "frames", 5, timeout=10)
    assert [m.key() for m in messages] == [b"deli-cam"] * 4
    frames = [Frame.decode(codec, m.value()) for m in messages]
    assert [(f.width, f.height) for f in frames] == [(640, 480)] * 3 + [(1920, 1080)]
    assert len(frames[3].image) > 1024 * 1024
    images = [cv2.imdecode(np.frombuffer(f.image, np.uint8), cv2.IMREAD_COLOR) for f in frames]
    assert [round(float(image.mean())) for image in images[:3]] == pytest.approx(
        [20, 60, 100], abs=2
    )
    frame = frames[0]
    assert (frame.agency_ori, frame.camera_kind, frame.owner, frame.consent_ref) == (
        "MN9990001",
        CameraKind.PARTNER,
        "Main St Deli",
        "C-2026-17",
    )
    assert (frame.latitude, frame.longitude) == (44.97, -93.27)
    assert all(f.collected_at >= before.replace(microsecond=0) for f in frames)


def test_an_uploaded_video_arrives_masked_with_owner_and_consent(
    settings: Settings, tmp_path: Path
) -> None:
    # A still textured street a red box drives along (rows 300-399) in frames 10-19.
    street = cv2.GaussianBlur(
        np.random.default_rng(5).integers(60, 220, (480, 640, 3), dtype=np.uint8), (0, 0), 2
    )
    writer = cv2.VideoWriter(
        str(tmp_path / "porch.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 10, (640, 480)
    )
    for i in range(30):
        image = street.copy()
        if 10 <= i < 20:
            image[300:400, (i - 10) * 56 : (i - 10) * 56 + 120] = (20, 20, 230)
        writer.write(image)
    writer.release()
    settings = settings.model_copy(
        update={"ingest_tokens": {"MN9990001": SecretStr("secret-owner")}, "upload_dir": tmp_path}
    )
    recorded = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    # The neighbour's windows: the top half of the frame, in fractions of it.
    neighbour = [[[0, 0], [1, 0], [1, 0.5], [0, 0.5]]]
    sink = KafkaSink(as_principal(settings, INGEST), "test-uploads")
    with TestClient(create_ingest_app(settings, sink)) as client:
        response = client.post(
            "/v1/uploads",
            params={
                "camera_id": "porch-7",
                "owner": "J. Resident",
                "consent_ref": "C-2026-88",
                "recorded_at": recorded.isoformat(),
                "masks": json.dumps(neighbour),
            },
            content=(tmp_path / "porch.avi").read_bytes(),
            headers={"Authorization": "Bearer secret-owner", "Content-Type": "video/x-msvideo"},
        )
    assert response.status_code == 202, response.text
    # Sampled at 2 a second (frames 0, 5, ..., 25): the first, then the two with the box.
    assert response.json()["frames_sent"] == 3
    assert sink.failed == 0 and list(tmp_path.glob("lprx-upload-*")) == []

    codec = codec_for(settings.schema_registry_url)
    frames = [Frame.decode(codec, m.value()) for m in consume(settings, "frames", 3)]
    assert [f.collected_at for f in frames] == [
        recorded,
        recorded + timedelta(seconds=1),
        recorded + timedelta(seconds=1.5),
    ]
    for frame in frames:
        assert (frame.agency_ori, frame.camera_id, frame.camera_kind) == (
            "MN9990001",
            "porch-7",
            CameraKind.PARTNER,
        )
        assert (frame.owner, frame.consent_ref) == ("J. Resident", "C-2026-88")
        image = cv2.imdecode(np.frombuffer(frame.image, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
        # Black above the mask's edge (row 240; JPEG blurs its 16-row block), the street below.
        assert image[:224].max() <= 2 and image[256:].mean() > 60
    audits = [AuditEvent.decode(codec, m.value()) for m in consume(settings, "audit", 1)]
    assert [(a.action, a.actor, a.target_kind, a.details["consent_ref"]) for a in audits] == [
        (AuditAction.INGEST, "camera:porch-7", "upload", "C-2026-88")
    ]
