"""The whole pipeline on real Kafka and Cassandra, with real worker and ingest processes.

Cameras post reads over HTTP, a legacy camera's frame goes through PaddleOCR, and we
check what partners receive, what Cassandra holds (TTL counted from collection), that a
duplicate is dropped, and that malformed input is dead-lettered while good records
behind it still go through.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from confluent_kafka import Producer

from connectors.cassandra import CassandraStore
from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.topic import publish_entries
from connectors.kafka.agreements import publish_agreement
from connectors.kafka.topics import make_producer
from pipelines.cli import consume_topic
from pipelines.demo import SAMPLES
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.records import (
    CameraKind,
    DeadLetter,
    Frame,
    Hit,
    HotlistCategory,
    MatchKind,
    PlateRead,
    ReadSource,
    new_id,
    utcnow,
)
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.factories import a_read, an_agreement

OWNER, PARTNER, OTHER = "MN9990001", "MN9990002", "MN9990003"
TOKENS = {OWNER: "e2e-token-owner", PARTNER: "e2e-token-partner"}
DAY_S = 86400
CODEC = SingleObjectCodec()


@dataclass
class Running:
    settings: Settings
    ingest_url: str
    producer: Producer
    store: CassandraStore
    frame_plate: str
    frame_jpeg: bytes

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


@pytest.fixture(scope="module")
def running(servers: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    from pipelines.ocr.models import ensure_models

    ensure_models(servers)
    settings = unique_settings(
        servers,
        topic_partitions=1,
        dedup_window_seconds=60.0,
        store_batch_seconds=0.2,
        metrics_port=free_port(),
        ingest_port=free_port(),
    )
    provision(settings)
    producer = make_producer(settings, "e2e")
    manifest = json.loads((SAMPLES / "frames" / "manifest.json").read_text())
    first = manifest["frames"][0]
    frame_file, frame_plate = first["file"], first["plate"]
    hotlist = (
        "plate,state,category,case_number\n"
        "HOT1234,MN,STOLEN_VEHICLE,\n"
        "SUP1234,MN,STOLEN_VEHICLE,\n"
        "DIS4321,MN,STOLEN_VEHICLE,\n"
        f"{frame_plate},MN,STOLEN_VEHICLE,\n"
    )
    source = HotlistSource("e2e", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    publish_entries(settings, producer, CODEC, parse_csv(hotlist, source).entries)
    publish_agreement(settings, producer, CODEC, an_agreement())  # owner -> partner, stolen
    publish_agreement(
        settings,
        producer,
        CODEC,
        an_agreement(
            agreement_id=f"{OWNER}->{OTHER}",
            partner_agency_ori=OTHER,
            hit_categories=(HotlistCategory.AMBER_ALERT,),
        ),
    )
    logs = tmp_path_factory.mktemp("e2e-logs")
    env = settings_env(settings)
    worker = Process(
        ["worker", "--metrics-port", str(settings.metrics_port), "--loglevel", "info"],
        env,
        logs / "worker.log",
    )
    ingest_env = {
        **env,
        "LPRX_INGEST_PORT": str(settings.ingest_port),
        "LPRX_INGEST_TOKENS": json.dumps(TOKENS),
    }
    ingest = Process(["ingest"], ingest_env, logs / "ingest.log")
    ingest_url = f"http://127.0.0.1:{settings.ingest_port}"
    store = CassandraStore(settings)
    try:

        def ingest_up() -> bool:
            assert ingest.alive(), ingest.output()
            try:
                return httpx.get(f"{ingest_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ingest_up, 60, "the ingest endpoint")
        yield Running(
            settings,
            ingest_url,
            producer,
            store,
            frame_plate,
            (SAMPLES / "frames" / frame_file).read_bytes(),
        )
        assert worker.alive(), f"the worker died during the tests:\n{worker.output()}"
    except BaseException:
        print("--- worker log ---\n", worker.output(), "\n--- ingest log ---\n", ingest.output())
        raise
    finally:
        worker.stop()
        ingest.stop()
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
        store.close()


def rows_for(running: Running, plate: str, n: int = 1, timeout: float = 120) -> list[Any]:
    return wait_for(
        lambda: rows if len(rows := running.stored(plate)) >= n else None,
        timeout,
        f"{n} stored read(s) of {plate}",
    )


def test_camera_reads_are_stored_with_ttl_counted_from_collection(running: Running) -> None:
    now = datetime.now(UTC)
    assert running.post_read("TTLNEW1", "cam-ttl", now).status_code == 202
    assert running.post_read("TTLOLD1", "cam-ttl", now - timedelta(days=59)).status_code == 202
    fresh = rows_for(running, "TTLNEW1")[0]
    old = rows_for(running, "TTLOLD1")[0]
    # TTL() counts down from the write; the margin covers the trip through the pipeline.
    assert 60 * DAY_S - 180 <= fresh["ttl"] <= 60 * DAY_S
    assert DAY_S - 180 <= old["ttl"] <= DAY_S


def test_read_past_retention_is_refused(running: Running) -> None:
    response = running.post_read("TTLGONE", "cam-ttl", datetime.now(UTC) - timedelta(days=61))
    assert response.status_code == 422
    # Behind it in the same stream a good read arrives, so the refused one had its chance.
    assert running.post_read("TTLNEXT", "cam-ttl", datetime.now(UTC)).status_code == 202
    rows_for(running, "TTLNEXT")
    assert running.stored("TTLGONE") == []


def test_frame_is_read_by_ocr_and_stored(running: Running) -> None:
    running.produce("frames", running.frame(running.frame_jpeg).encode(CODEC))
    row = rows_for(running, running.frame_plate, timeout=180)[0]
    assert row["camera_id"] == "legacy-cam"
    assert 60 * DAY_S - 300 <= row["ttl"] <= 60 * DAY_S


def partner_hits(running: Running, ori: str, plate: str) -> list[Hit]:
    values = consume_topic(running.settings, running.settings.partner_hits_topic(ori), 100, 3)
    return [h for h in (Hit.decode(CODEC, v) for v in values) if h.read.plate == plate]


def test_hit_reaches_the_agreed_partner_and_no_other(running: Running) -> None:
    assert running.post_read("HOT-1234", "cam-hit", datetime.now(UTC)).status_code == 202
    partner = wait_for(lambda: partner_hits(running, PARTNER, "HOT1234"), 120, "partner hit")
    assert partner[0].entry.category is HotlistCategory.STOLEN_VEHICLE
    assert partner[0].read.agency_ori == OWNER
    assert partner_hits(running, OWNER, "HOT1234"), "the owner gets its own hit"
    # The other agency's agreement covers Amber alerts only: nothing for it.
    assert partner_hits(running, OTHER, "HOT1234") == []
    stored = wait_for(lambda: running.store.hits_for_agency(OWNER), 60, "stored hit")
    assert any(h["plate"] == "HOT1234" for h in stored)


def test_ocr_read_of_a_hotlist_plate_is_a_hit_too(running: Running) -> None:
    rows_for(running, running.frame_plate, timeout=180)
    plate = running.frame_plate
    hits = wait_for(lambda: partner_hits(running, PARTNER, plate), 120, "OCR hit")
    assert hits[0].read.source.value == "SERVER_OCR"


def test_reads_of_one_pass_become_its_best_read_with_the_others_counted(
    running: Running,
) -> None:
    now = datetime.now(UTC)
    for seconds, plate, confidence in [
        (0, "DUP4321", 80.0),
        (1, "DUP4321", 97.0),
        (2, "DUP4B21", 85.0),
    ]:
        response = running.post_read(plate, "cam-dup", now + timedelta(seconds=seconds), confidence)
        assert response.status_code == 202
    # Another camera's read of the same plate is a different pass, and also a marker
    # that the duplicates (posted before it, same partition) have been handled.
    assert running.post_read("DUP4321", "cam-other", now).status_code == 202
    rows = rows_for(running, "DUP4321", n=2)
    assert sorted(r["camera_id"] for r in rows) == ["cam-dup", "cam-other"]
    best = next(r for r in rows if r["camera_id"] == "cam-dup")
    assert (best["confidence"], best["duplicates"]) == (97.0, 2)
    assert running.stored("DUP4B21") == []


def metric_total(running: Running, stage: str, outcome: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{running.settings.metrics_port}/metrics", timeout=10).text
    wanted = ("lprx_records_total{", f'stage="{stage}"', f'outcome="{outcome}"')
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(wanted[0]) and all(w in line for w in wanted[1:])
    )


def dead_letters(running: Running) -> list[DeadLetter]:
    values = consume_topic(running.settings, running.settings.topic("deadletter"), 500, 3)
    return [DeadLetter.decode(CODEC, v) for v in values]


def find_letter(running: Running, match: Callable[[DeadLetter], bool]) -> DeadLetter:
    return wait_for(
        lambda: next((d for d in dead_letters(running) if match(d)), None), 120, "dead letter"
    )


def test_malformed_read_bytes_are_dead_lettered_and_the_stream_goes_on(running: Running) -> None:
    running.produce("reads.raw", b"not an avro record")
    running.produce("reads.raw", b"")
    good = a_read(plate="AFTERBAD1", camera_id="cam-bad", collected_at=datetime.now(UTC))
    running.produce("reads.raw", good.encode(CODEC))
    rows_for(running, "AFTERBAD1")
    letter = find_letter(running, lambda d: d.original_value == b"not an avro record")
    assert letter.stage == "normalize" and letter.error_type == "DecodeError"
    assert letter.source_topic == running.settings.topic("reads.raw")
    assert find_letter(running, lambda d: d.original_value == b"" and d.stage == "normalize")


def test_invalid_read_is_dead_lettered_with_its_reason(running: Running) -> None:
    bad = a_read(plate="---", camera_id="cam-bad", collected_at=datetime.now(UTC))
    original = bad.encode(CODEC)
    running.produce("reads.raw", original)
    letter = find_letter(running, lambda d: "characters after normalisation" in d.reason)
    assert letter.error_type == "InvalidRecord"
    assert letter.original_value == original
    assert PlateRead.decode(CODEC, letter.original_value).plate == "---"


def test_bad_frames_are_dead_lettered_and_good_frames_still_read(running: Running) -> None:
    truncated = running.frame(running.frame_jpeg[: len(running.frame_jpeg) // 3])
    noise = running.frame(b"this is not an image")
    running.produce("frames", b"\x00garbage frame")
    running.produce("frames", noise.encode(CODEC))
    running.produce("frames", truncated.encode(CODEC))
    blank = cv2.imencode(".jpg", np.full((720, 1280, 3), 128, np.uint8))[1].tobytes()
    running.produce("frames", running.frame(blank).encode(CODEC))
    running.produce("frames", running.frame(running.frame_jpeg, "legacy-cam-2").encode(CODEC))
    find_letter(running, lambda d: d.original_value == b"\x00garbage frame" and d.stage == "ocr")
    find_letter(running, lambda d: d.stage == "ocr" and d.original_value == noise.encode(CODEC))
    # The good frame behind the bad ones is still read and stored.
    wait_for(
        lambda: any(r["camera_id"] == "legacy-cam-2" for r in running.stored(running.frame_plate)),
        180,
        "the good frame's read",
    )


def test_a_repeated_hit_is_stored_but_not_re_alerted(running: Running) -> None:
    now = datetime.now(UTC)
    # Two cameras, so dedup keeps both reads; the second hit is a repeat.
    assert running.post_read("SUP1234", "cam-sup-1", now).status_code == 202
    assert running.post_read("SUP1234", "cam-sup-2", now + timedelta(seconds=5)).status_code == 202

    def stored_hits() -> list[dict[str, Any]]:
        return [h for h in running.store.hits_for_agency(OWNER, 1000) if h["plate"] == "SUP1234"]

    wait_for(lambda: len(stored_hits()) == 2, 120, "both hits stored")
    delivered = wait_for(lambda: partner_hits(running, PARTNER, "SUP1234"), 60, "the alert")
    assert len(delivered) == 1


def test_dispositions_from_recipients_are_stored_with_the_hit(running: Running) -> None:
    from schemas.records import Disposition, HitDisposition

    assert running.post_read("DIS4321", "cam-dis", datetime.now(UTC)).status_code == 202
    (hit,) = wait_for(lambda: partner_hits(running, PARTNER, "DIS4321"), 120, "partner hit")

    def dispose(agency: str, disposition: Disposition) -> bytes:
        record = HitDisposition(
            hit.hit_id, OWNER, hit.matched_at, disposition, f"officer.{agency}", agency, utcnow()
        ).encode(CODEC)
        running.produce("dispositions", record)
        return record

    stranger = dispose(OTHER, Disposition.DISMISSED)  # never received this hit
    dispose(PARTNER, Disposition.CORRECT)

    def stored() -> dict[str, Any] | None:
        rows = [h for h in running.store.hits_for_agency(OWNER, 1000) if h["hit_id"] == hit.hit_id]
        return rows[0] if rows and rows[0]["disposition"] else None

    row = wait_for(stored, 120, "the disposition on the stored hit")
    assert (row["disposition"], row["disposition_agency"]) == ("CORRECT", PARTNER)
    letter = find_letter(running, lambda d: d.original_value == stranger)
    assert letter.stage == "dispositions" and "did not receive" in letter.reason


def test_a_new_entry_raises_historical_hits_on_stored_reads(running: Running) -> None:
    assert running.post_read("HIS5678", "cam-his", datetime.now(UTC)).status_code == 202
    # The same car read with a confusable character (S as 5) by another camera.
    assert running.post_read("HI55678", "cam-his-2", datetime.now(UTC)).status_code == 202
    rows_for(running, "HIS5678")
    rows_for(running, "HI55678")
    assert partner_hits(running, PARTNER, "HIS5678") == []
    source = HotlistSource("e2e-late", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    entries = parse_csv("plate,state\nHIS5678,MN\n", source).entries
    publish_entries(running.settings, running.producer, CODEC, entries)

    def historical() -> list[Hit]:
        hits = partner_hits(running, PARTNER, "HIS5678") + partner_hits(running, PARTNER, "HI55678")
        return hits if len(hits) >= 2 else []

    hits = sorted(wait_for(historical, 120, "historical hits"), key=lambda h: h.read.camera_id)
    assert all(h.historical and h.entry.list_id == "e2e-late" for h in hits)
    assert [(h.read.camera_id, h.match_kind) for h in hits] == [
        ("cam-his", MatchKind.EXACT),
        ("cam-his-2", MatchKind.CONFUSABLE),
    ]
    # The entry changed (a higher priority): its reads were checked once, not again.
    changed = [dataclasses.replace(entries[0], priority=entries[0].priority + 10)]
    publish_entries(running.settings, running.producer, CODEC, changed)
    wait_for(lambda: metric_total(running, "historical", "already_checked") >= 1, 60, "the change")
    assert len(historical()) == 2


def views_of_one_car(jpeg: bytes) -> list[bytes]:
    """Three frames of a car moving through the scene: shifted and nearer each time."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2]
    views = []
    for step in range(3):
        scale, shift = 1.0 + 0.03 * step, -12.0 * step
        move = np.array(
            [[scale, 0, shift + (1 - scale) * width / 2], [0, scale, (1 - scale) * height / 2]],
            np.float32,
        )
        moved = cv2.warpAffine(image, move, (width, height), borderMode=cv2.BORDER_REPLICATE)
        views.append(cv2.imencode(".jpg", moved, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return views


def test_frames_of_one_car_are_fused_into_one_read_with_its_crop(running: Running) -> None:
    manifest = json.loads((SAMPLES / "frames" / "manifest.json").read_text())
    car = next(f for f in manifest["frames"] if not f["demo_hotlist"])
    start = utcnow()
    frames = [
        dataclasses.replace(
            running.frame(view, "fusion-cam"), collected_at=start + timedelta(seconds=0.3 * step)
        )
        for step, view in enumerate(
            views_of_one_car((SAMPLES / "frames" / car["file"]).read_bytes())
        )
    ]
    for frame in frames:
        running.produce("frames", frame.encode(CODEC), key=b"fusion-cam")
    rows_for(running, car["plate"], timeout=180)
    # The same frames again (a camera replaying its recording): still one read of the car.
    folded_before = metric_total(running, "dedup", "duplicate")
    for frame in frames:
        running.produce("frames", frame.encode(CODEC), key=b"fusion-cam")
    wait_for(
        lambda: metric_total(running, "dedup", "duplicate") > folded_before,
        120,
        "the replayed frames' read folded into the pass",
    )
    reads = [r for r in running.store.stored_reads(car["plate"]) if r.camera_id == "fusion-cam"]
    assert len(reads) == 1
    (read,) = reads
    assert (read.frame_count, read.source) == (3, ReadSource.SERVER_OCR)
    assert start <= read.collected_at <= start + timedelta(seconds=0.7)
    assert read.candidates[0].plate == car["plate"]
    # The plate crop is stored under the read's id, expiring with it.
    assert read.image_ref == f"crop:{read.read_id}"
    crop = running.store.plate_crop(read.read_id)
    assert crop is not None and crop.jpeg.startswith(b"\xff\xd8")
    assert crop.expires_at == read.expires_at
    assert metric_total(running, "ocr", "fused_frames") >= 6
