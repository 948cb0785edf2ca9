"""Parsing camera payloads into reads, without HTTP: OpenALPR webhooks and plain reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.ingest.openalpr import (
    Point,
    ReadContext,
    openalpr_data_type,
    plate_box,
    reads_from_openalpr,
    reads_from_plain,
)
from schemas.errors import InvalidRecord
from schemas.records import CameraKind, ReadSource

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EPOCH_MS = int((NOW - timedelta(seconds=3)).timestamp() * 1000)
CTX = ReadContext(agency_ori="MN9990001", retention_days=60, received_at=NOW)


def results(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": 2, "data_type": "alpr_results", "epoch_time": EPOCH_MS,
        "img_width": 1920, "img_height": 1080, "processing_time_ms": 40.1,
        "uuid": "frame-uuid-1", "camera_id": 1234567, "agent_uid": "agent-x",
        "results": [{
            "plate": "ABC123", "confidence": 93.5, "region": "us-mn", "region_confidence": 71,
            "coordinates": [{"x": 12, "y": 30}, {"x": 118, "y": 26}, {"x": 120, "y": 60},
                            {"x": 14, "y": 64}],
            "plate_crop_jpeg": "/9j/4AAQSkZJRgABAQ==",
            "vehicle_region": {"x": 0, "y": 0, "width": 400, "height": 300},
            "candidates": [{"plate": "ABC123", "confidence": 93.5, "matches_template": 1},
                           {"plate": "A8C123", "confidence": 80.0, "matches_template": 0}],
        }],
    }  # fmt: skip
    body.update(overrides)
    return body


def group(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": 2, "data_type": "alpr_group", "epoch_start": EPOCH_MS,
        "epoch_end": EPOCH_MS + 1500, "camera_id": "hwy-7-east", "agent_uid": "agent-x",
        "gps_latitude": 44.97, "gps_longitude": -93.26, "best_plate_number": "GRP555",
        "best_confidence": 91.0, "best_region": "us-mn", "best_region_confidence": 88.0,
        "best_uuid": "best-frame", "uuids": ["f1", "best-frame", "f3"],
        "best_plate": {"plate": "GRP555", "coordinates": [{"x": 5, "y": 6}, {"x": 55, "y": 6},
                       {"x": 55, "y": 26}, {"x": 5, "y": 26}]},
        "candidates": [{"plate": "GRP555", "confidence": 91.0, "matches_template": 1}],
        "travel_direction": 181.0, "is_parked": False,
        "vehicle": {"color": [{"name": "red", "confidence": 90}],
                    "make": [{"name": "ford", "confidence": 80}],
                    "body_type": [{"name": "suv-crossover", "confidence": 70}]},
        "vehicle_crop_jpeg": "/9j/4AAQSkZJRgABAQ==",
    }  # fmt: skip
    body.update(overrides)
    return body


def plain(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plate": "PLN123",
        "camera_id": "cam-1",
        "collected_at": "2026-11-23T11:59:00Z",
        "confidence": 90.0,
    }
    body.update(overrides)
    return body


class TestAlprResults:
    def test_one_read_per_result_with_its_fields(self) -> None:
        (read,) = reads_from_openalpr(results(), CTX)
        assert (read.plate, read.camera_id, read.agency_ori) == ("ABC123", "1234567", "MN9990001")
        assert read.collected_at == datetime.fromtimestamp(EPOCH_MS / 1000, UTC)
        assert read.received_at == NOW
        assert (read.region, read.region_confidence, read.confidence) == ("us-mn", 71.0, 93.5)
        assert [(c.plate, c.matches_template) for c in read.candidates] == [
            ("ABC123", True),
            ("A8C123", False),
        ]
        assert read.plate_box == (12, 26, 108, 38)
        assert read.source_ref == "frame-uuid-1"
        assert read.source is ReadSource.CAMERA_ALPR and read.camera_kind is CameraKind.FIXED

    def test_several_results_are_several_reads(self) -> None:
        body = results()
        body["results"].append({**body["results"][0], "plate": "XYZ789"})
        reads = reads_from_openalpr(body, CTX)
        assert [r.plate for r in reads] == ["ABC123", "XYZ789"]
        assert len({r.read_id for r in reads}) == 2

    def test_a_frame_without_plates_has_no_reads(self) -> None:
        assert reads_from_openalpr(results(results=[]), CTX) == []

    def test_expiry_counts_from_collection(self) -> None:
        (read,) = reads_from_openalpr(results(), CTX.model_copy(update={"retention_days": 30}))
        assert read.expires_at == read.collected_at + timedelta(days=30)

    def test_camera_kind_field_wins_over_the_request(self) -> None:
        ctx = CTX.model_copy(update={"camera_kind": CameraKind.TRAILER})
        assert reads_from_openalpr(results(), ctx)[0].camera_kind is CameraKind.TRAILER
        body = results(camera_kind="SQUAD_CAR")
        assert reads_from_openalpr(body, ctx)[0].camera_kind is CameraKind.SQUAD_CAR


class TestAlprGroup:
    def test_one_read_per_vehicle(self) -> None:
        (read,) = reads_from_openalpr(group(), CTX)
        assert (read.plate, read.camera_id, read.confidence) == ("GRP555", "hwy-7-east", 91.0)
        assert (read.latitude, read.longitude) == (44.97, -93.26)
        assert read.collected_at == datetime.fromtimestamp(EPOCH_MS / 1000, UTC)
        assert read.frame_count == 3
        assert read.plate_box == (5, 6, 50, 20)
        assert read.region_confidence == 88.0

    def test_vehicle_attributes_are_dropped(self) -> None:
        (read,) = reads_from_openalpr(group(), CTX)
        wire = json.dumps(read.to_avro(), default=str).lower()
        for attribute in ("red", "ford", "suv", "color", "make", "body_type", "is_parked"):
            assert attribute not in wire

    @pytest.mark.parametrize(
        ("overrides", "expected"),
        [
            ({}, "best-frame"),
            ({"best_uuid": None}, "f1"),
            ({"best_uuid": None, "uuids": [], "uuid": "group-uuid"}, "group-uuid"),
            ({"best_uuid": None, "uuids": []}, None),
        ],
    )
    def test_source_ref(self, overrides: dict[str, Any], expected: str | None) -> None:
        (read,) = reads_from_openalpr(group(**overrides), CTX)
        assert read.source_ref == expected
        assert read.frame_count == max(1, len(group(**overrides)["uuids"]))

    def test_no_gps_fix_is_no_position(self) -> None:
        (read,) = reads_from_openalpr(group(gps_latitude=0, gps_longitude=0), CTX)
        assert (read.latitude, read.longitude) == (None, None)
        (read,) = reads_from_openalpr(group(gps_latitude=None), CTX)
        assert (read.latitude, read.longitude) == (None, None)


class TestOpenAlprRefusals:
    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            ([results()], "JSON object"),
            ({"version": 2}, "data_type"),
            ({"data_type": 7}, "data_type"),
            (results(epoch_time=None), "epoch_time"),
            (results(epoch_time=10**17), "epoch_time"),
            (results(epoch_time="1795400000000"), "epoch_time"),
            (results(results=[{"plate": "", "confidence": 9}]), "plate"),
            (results(results=[{"plate": "ABC123", "confidence": 101}]), "confidence"),
            (results(camera_id=""), "camera_id"),
            (results(camera_kind="DRONE"), "camera_kind"),
            (group(best_plate_number=None), "best_plate_number"),
            (group(gps_latitude=91), "gps_latitude"),
            ({"data_type": "alpr_alert"}, "not a read"),
        ],
    )
    def test_invalid(self, payload: Any, reason: str) -> None:
        with pytest.raises(InvalidRecord, match=reason):
            reads_from_openalpr(payload, CTX)

    def test_data_type(self) -> None:
        assert openalpr_data_type({"data_type": "alpr_alert"}) == "alpr_alert"
        with pytest.raises(InvalidRecord):
            openalpr_data_type("alpr_group")

    def test_messages_name_fields_never_values(self) -> None:
        secret_plate = "SECRETPLATE123456789"
        with pytest.raises(InvalidRecord) as caught:
            reads_from_openalpr(results(results=[{"plate": secret_plate, "confidence": 9}]), CTX)
        assert "results.0.plate" in str(caught.value)
        assert secret_plate not in str(caught.value)


class TestPlainReads:
    def test_a_plain_read(self) -> None:
        body = plain(camera_kind="SQUAD_CAR", latitude=44.9, longitude=-93.2, region="us-mn")
        (read,) = reads_from_plain(body, CTX)
        assert (read.plate, read.camera_id, read.camera_kind) == (
            "PLN123",
            "cam-1",
            CameraKind.SQUAD_CAR,
        )
        assert read.collected_at == datetime(2026, 11, 23, 11, 59, tzinfo=UTC)
        assert read.expires_at == datetime(2027, 1, 22, 11, 59, tzinfo=UTC)
        assert (read.latitude, read.longitude, read.region) == (44.9, -93.2, "us-mn")

    def test_offsets_become_utc(self) -> None:
        (read,) = reads_from_plain(plain(collected_at="2026-11-23T05:59:00-06:00"), CTX)
        assert read.collected_at == datetime(2026, 11, 23, 11, 59, tzinfo=UTC)

    def test_numbers_are_epoch_milliseconds(self) -> None:
        (read,) = reads_from_plain(plain(collected_at=EPOCH_MS), CTX)
        assert read.collected_at == datetime.fromtimestamp(EPOCH_MS / 1000, UTC)
        # A small number is still milliseconds, not seconds (no guessing).
        (early,) = reads_from_plain(plain(collected_at=1_000), CTX)
        assert early.collected_at == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)

    def test_camera_kind_defaults_to_the_request_then_fixed(self) -> None:
        assert reads_from_plain(plain(), CTX)[0].camera_kind is CameraKind.FIXED
        ctx = CTX.model_copy(update={"camera_kind": CameraKind.TRAILER})
        assert reads_from_plain(plain(), ctx)[0].camera_kind is CameraKind.TRAILER

    def test_candidates_and_unknown_fields(self) -> None:
        body = plain(
            candidates=[
                {"plate": "PLN123", "confidence": 90},
                {"plate": "PLN12B", "confidence": 60},
            ],
            vehicle_color="blue",
            make="Volvo",
            agency_ori="MN0000000",
        )
        (read,) = reads_from_plain(body, CTX)
        assert [c.plate for c in read.candidates] == ["PLN123", "PLN12B"]
        assert read.agency_ori == "MN9990001"  # the token decides, never the body
        assert "volvo" not in json.dumps(read.to_avro(), default=str).lower()

    def test_a_list(self) -> None:
        reads = reads_from_plain([plain(plate="A1"), plain(plate="B2")], CTX)
        assert [r.plate for r in reads] == ["A1", "B2"]
        assert reads_from_plain([], CTX) == []

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            ({"camera_id": "c", "collected_at": "2026-11-23T10:00:00Z", "confidence": 9}, "plate"),
            (plain(confidence="high"), "confidence"),
            (plain(confidence="91"), "confidence"),
            (plain(confidence=True), "confidence"),
            (plain(confidence=float("nan")), "confidence"),
            (plain(latitude=123.0), "latitude"),
            (plain(collected_at="2026-11-23T10:00:00"), "time zone"),
            (plain(collected_at="yesterday"), "ISO-8601"),
            (plain(collected_at=True), "collected_at"),
            (plain(collected_at=-5), "collected_at"),
            (plain(camera_kind="BLIMP"), "camera_kind"),
            (plain(camera_id=None), "camera_id"),
            (plain(plate="X" * 17), "plate"),
            ("ABC123", "body"),
            ([plain(), plain(plate=None)], "read 1: plate"),
        ],
    )
    def test_invalid(self, payload: Any, reason: str) -> None:
        with pytest.raises(InvalidRecord, match=reason):
            reads_from_plain(payload, CTX)


def test_plate_box_of_a_tilted_plate() -> None:
    corners = [Point(x=10.6, y=20), Point(x=110, y=12.2), Point(x=112.9, y=50), Point(x=12, y=58)]
    assert plate_box(corners) == (10, 12, 102, 46)
    assert plate_box([]) is None
