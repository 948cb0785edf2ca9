"""The frame producer writing to a real Kafka broker's frames topic.

Each test has its own topics (a unique LPRX_TOPIC_PREFIX). Needs only Kafka; starts the
local one if it is not running.
"""

from __future__ import annotations

import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from connectors.frames import FrameCamera, send_frames
from connectors.kafka import core_topics, ensure_topics, make_consumer
from connectors.sink import KafkaSink
from pipelines.records import CameraKind, Frame
from pipelines.settings import Settings
from schemas import codec_for

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
    settings = Settings()
    if not kafka_reachable(settings):
        from connectors.servers import up

        up(settings, ("kafka",))
    ensure_topics(settings, core_topics(settings))
    return settings


def consume(settings: Settings, name: str, want: int, timeout: float = 15.0) -> list[Message]:
    """Up to ``want`` messages from the start of topic ``name``, waiting at most ``timeout``."""
    topic = settings.topic(name)
    consumer = make_consumer(settings, f"test-{uuid.uuid4().hex}")
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(messages) < want and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                messages.append(message)
        return messages
    finally:
        consumer.close()


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
    sink = KafkaSink(settings, "test-frames")
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
