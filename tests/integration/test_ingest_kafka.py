"""HTTP ingest and the frame producer writing to a real Kafka broker."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from connectors.frames import FrameCamera, send_frames
from connectors.ingest import create_ingest_app
from connectors.sink import KafkaSink
from pipelines.cli import consume_topic
from pipelines.demo import SAMPLES
from pipelines.records import AuditEvent, DeadLetter, Frame, PlateRead
from pipelines.settings import Settings
from schemas import SingleObjectCodec

CODEC = SingleObjectCodec()


def test_posted_reads_and_refused_bodies_reach_their_topics(kafka_settings: Settings) -> None:
    settings = kafka_settings.model_copy(update={"ingest_tokens": {"MN9990001": SecretStr("t0k")}})
    sink = KafkaSink(settings, "test-ingest")
    with TestClient(create_ingest_app(settings, sink)) as client:
        auth = {"Authorization": "Bearer t0k", "Content-Type": "application/json"}
        good = {
            "plate": "ING123",
            "camera_id": "cam-9",
            "collected_at": datetime.now(UTC).isoformat(),
            "confidence": 90,
        }
        assert client.post("/v1/reads", json=good, headers=auth).status_code == 202
        assert client.post("/v1/reads", content=b"{broken", headers=auth).status_code == 422
    assert sink.flush(10) == 0 and sink.failed == 0

    (read,) = [
        PlateRead.decode(CODEC, v)
        for v in consume_topic(settings, settings.topic("reads.raw"), 1, 10)
    ]
    assert (read.plate, read.camera_id, read.agency_ori) == ("ING123", "cam-9", "MN9990001")
    (letter,) = [
        DeadLetter.decode(CODEC, v)
        for v in consume_topic(settings, settings.topic("deadletter"), 1, 10)
    ]
    assert letter.original_value == b"{broken" and letter.stage == "ingest"
    audits = [
        AuditEvent.decode(CODEC, v) for v in consume_topic(settings, settings.topic("audit"), 5, 5)
    ]
    assert [a.action.value for a in audits] == ["INGEST"]


def test_frames_from_a_folder_reach_the_frames_topic(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    sink = KafkaSink(kafka_settings, "test-frames")
    camera = FrameCamera("legacy-7", "MN9990001")
    report = send_frames(sink, str(SAMPLES / "frames"), camera, max_frames=3)
    assert report.sent == 3
    frames = [
        Frame.decode(CODEC, v)
        for v in consume_topic(kafka_settings, kafka_settings.topic("frames"), 3, 10)
    ]
    assert [f.camera_id for f in frames] == ["legacy-7"] * 3
    assert all(f.image[:2] == b"\xff\xd8" and f.width == 1280 for f in frames)
