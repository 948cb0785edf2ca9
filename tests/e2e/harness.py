"""The running pipeline the end-to-end tests share, and how they look at it.

One worker and one ingest process (``running``, in this folder's conftest), on real Kafka
and Cassandra, for the whole e2e tier. The tests share them, but each posts its own
reads and frames (its own plates and cameras), so each passes alone and in any order. A
test that asserts a hit did not arrive first sees a marker hit posted after it arrive
(``share_has_handled_hits_before``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from confluent_kafka import Producer

from connectors.cassandra import CassandraStore
from connectors.kafka.reader import read_values
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.records import CameraKind, DeadLetter, Frame, Hit, new_id, utcnow
from tests.conftest import records_total, wait_for

OWNER, PARTNER, OTHER = "MN9990001", "MN9990002", "MN9990003"
TOKENS = {OWNER: "e2e-token-owner", PARTNER: "e2e-token-partner"}
DAY_S = 86400
CODEC = SingleObjectCodec()
# Hotlist plates posted only as markers (see share_has_handled_hits_before), one per test
# that needs one (a second read of a plate would be a suppressed repeat): Amber alerts
# reach OTHER (and the owner), stolen vehicles PARTNER.
NO_AGREEMENT_MARKER = "AMB4701"
SUPPRESSION_MARKER = "MKR5502"
HISTORICAL_MARKER = "WQX8803"


@dataclass
class Running:
    settings: Settings
    ingest_url: str
    producer: Producer
    store: CassandraStore
    frame_plate: str  # not on the hotlist
    frame_jpeg: bytes
    hit_frame_plate: str  # on the hotlist
    hit_frame_jpeg: bytes

    def post_read(
        self, plate: str, camera_id: str, collected_at: datetime, confidence: float = 93.0
    ) -> httpx.Response:
        return httpx.post(
            f"{self.ingest_url}/v1/reads",
            json={
                "plate": plate,
                "camera_id": camera_id,
                "camera_kind": "FIXED",
                "collected_at": collected_at.isoformat(),
                "latitude": 44.98,
                "longitude": -93.27,
                "region": "us-mn",
                "confidence": confidence,
            },
            headers={"Authorization": f"Bearer {TOKENS[OWNER]}"},
            timeout=10,
        )

    def stored(self, plate: str) -> list[dict[str, Any]]:
        return self.store.reads_for_plate(plate)

    def produce(self, topic: str, value: bytes, key: bytes = b"cam") -> None:
        self.producer.produce(self.settings.topic(topic), key=key, value=value)
        self.producer.flush(10)

    def frame(self, image: bytes, camera_id: str = "legacy-cam") -> Frame:
        return Frame(
            frame_id=new_id(),
            agency_ori=OWNER,
            camera_id=camera_id,
            camera_kind=CameraKind.FIXED,
            collected_at=utcnow(),
            width=1280,
            height=720,
            image=image,
        )


def rows_for(
    running: Running, plate: str, n: int = 1, timeout: float = 120, camera_id: str | None = None
) -> list[Any]:
    """At least ``n`` stored reads of ``plate`` (of ``camera_id`` only, if given)."""

    def rows() -> list[Any] | None:
        found = [
            row
            for row in running.stored(plate)
            if camera_id is None or row["camera_id"] == camera_id
        ]
        return found if len(found) >= n else None

    camera = f" from {camera_id}" if camera_id else ""
    return wait_for(rows, timeout, f"{n} stored read(s) of {plate}{camera}")


def partner_hits(running: Running, ori: str, plate: str) -> list[Hit]:
    values = read_values(running.settings, running.settings.partner_hits_topic(ori), 100, 3)
    return [h for h in (Hit.decode(CODEC, v) for v in values) if h.read.plate == plate]


def share_has_handled_hits_before(running: Running, marker: str, recipient: str) -> None:
    """Waits for evidence that the share agent has handled every hit already on the hits
    topic: a read of hotlist plate ``marker`` (whose hit goes to ``recipient``), posted
    now, delivered to ``recipient``. Every topic has one partition here, which the match
    and share agents take in order, so the marker's hit is behind every earlier hit and
    its delivery behind any earlier delivery to ``recipient``: once it has arrived, a
    delivery to ``recipient`` that has not arrived never will."""
    assert running.settings.topic_partitions == 1
    assert running.post_read(marker, f"cam-marker-{marker}", datetime.now(UTC)).status_code == 202
    wait_for(lambda: partner_hits(running, recipient, marker), 120, f"marker hit {marker}")


def metric_total(running: Running, stage: str, outcome: str) -> float:
    return records_total(running.settings.metrics_port, stage, outcome)


def dead_letters(running: Running) -> list[DeadLetter]:
    values = read_values(running.settings, running.settings.topic("deadletter"), 500, 3)
    return [DeadLetter.decode(CODEC, v) for v in values]


def find_letter(running: Running, match: Callable[[DeadLetter], bool]) -> DeadLetter:
    return wait_for(
        lambda: next((d for d in dead_letters(running) if match(d)), None), 120, "dead letter"
    )
