"""The demo's world: three agencies, their agreements, their cameras, and what each
kind of camera posts (OpenALPR results, OpenALPR groups, plain reads)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pipelines.settings import REPO_ROOT
from schemas.records import CameraKind, HotlistCategory, SharingAgreement, utcnow

SAMPLES = REPO_ROOT / "connectors" / "samples"


@dataclass(frozen=True)
class Agency:
    ori: str
    name: str


LAKESIDE = Agency("MN9990100", "Lakeside Police Department")
RIVERTON = Agency("MN9990200", "Riverton Police Department")
PINE = Agency("MN9990300", "Pine County Sheriff's Office")
AGENCIES = (LAKESIDE, RIVERTON, PINE)

# Who shares what with whom. Pine County has signed no outgoing agreement: its hits
# stay with it, which the summary shows.
AGREEMENTS = (
    (LAKESIDE, RIVERTON, (HotlistCategory.STOLEN_VEHICLE, HotlistCategory.STOLEN_PLATE,
                          HotlistCategory.AMBER_ALERT)),
    (LAKESIDE, PINE, (HotlistCategory.AMBER_ALERT, HotlistCategory.MISSING_PERSON)),
    (RIVERTON, LAKESIDE, (HotlistCategory.STOLEN_VEHICLE, HotlistCategory.WANTED_PERSON,
                          HotlistCategory.AMBER_ALERT)),
)  # fmt: skip


@dataclass(frozen=True)
class Camera:
    camera_id: str
    agency: Agency
    kind: CameraKind
    protocol: str  # alpr_results | alpr_group | plain
    latitude: float
    longitude: float


CAMERAS = (
    Camera("lakeside-hwy7-east", LAKESIDE, CameraKind.FIXED, "alpr_group", 44.9401, -93.5012),
    Camera("lakeside-main-st", LAKESIDE, CameraKind.FIXED, "alpr_results", 44.9342, -93.4968),
    Camera("lakeside-unit-12", LAKESIDE, CameraKind.SQUAD_CAR, "plain", 44.9288, -93.5101),
    Camera("riverton-bridge", RIVERTON, CameraKind.FIXED, "alpr_results", 45.0105, -93.3511),
    Camera("riverton-trailer-3", RIVERTON, CameraKind.TRAILER, "plain", 45.0212, -93.3402),
    Camera("pine-cr12", PINE, CameraKind.FIXED, "alpr_group", 45.2101, -93.1205),
)
FRAME_CAMERA = Camera(
    "lakeside-downtown-legacy", LAKESIDE, CameraKind.FIXED, "frames", 44.9370, -93.4990
)


def demo_agreements() -> list[SharingAgreement]:
    from connectors.kafka.agreements import agreement_id

    return [
        SharingAgreement(
            agreement_id=agreement_id(owner.ori, partner.ori),
            owner_agency_ori=owner.ori,
            partner_agency_ori=partner.ori,
            hit_categories=categories,
            effective_from=utcnow() - timedelta(days=1),
            legal_basis="Joint Powers Agreement LPRX-DEMO-2026",
            approved_by=f"admin.{owner.ori.lower()}",
        )
        for owner, partner, categories in AGREEMENTS
    ]


def hotlist_plates() -> list[str]:
    lines = (SAMPLES / "hotlist.csv").read_text().splitlines()[1:]
    return [line.split(",")[0] for line in lines if line.strip()]


# --- the simulated camera network -------------------------------------------------------


def random_plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(rng.choices(letters, k=3)) + "".join(rng.choices("0123456789", k=3))


def openalpr_results(
    camera: Camera, plate: str, at: datetime, rng: random.Random
) -> dict[str, Any]:
    confidence = round(rng.uniform(86, 96), 2)
    return {
        "version": 2, "data_type": "alpr_results", "epoch_time": int(at.timestamp() * 1000),
        "img_width": 1920, "img_height": 1080, "processing_time_ms": 41.2,
        "uuid": f"{camera.camera_id}-{int(at.timestamp() * 1000)}",
        "camera_id": camera.camera_id, "agent_uid": f"agent-{camera.agency.ori}",
        "results": [{
            "plate": plate, "confidence": confidence, "region": "us-mn",
            "region_confidence": 88.0, "matches_template": 1,
            "coordinates": [{"x": 900, "y": 600}, {"x": 1010, "y": 600},
                            {"x": 1010, "y": 655}, {"x": 900, "y": 655}],
            "candidates": [{"plate": plate, "confidence": confidence, "matches_template": 1}],
        }],
    }  # fmt: skip


def openalpr_group(camera: Camera, plate: str, at: datetime, rng: random.Random) -> dict[str, Any]:
    confidence = round(rng.uniform(86, 96), 2)
    start = int(at.timestamp() * 1000)
    return {
        "version": 2, "data_type": "alpr_group", "epoch_start": start, "epoch_end": start + 900,
        "camera_id": camera.camera_id, "agent_uid": f"agent-{camera.agency.ori}",
        "gps_latitude": camera.latitude, "gps_longitude": camera.longitude,
        "best_plate_number": plate, "best_confidence": confidence, "best_region": "us-mn",
        "best_region_confidence": 90.0, "travel_direction": 182.0, "is_parked": False,
        "uuids": [f"{camera.camera_id}-{start}-{i}" for i in range(rng.randint(3, 9))],
        "candidates": [{"plate": plate, "confidence": confidence, "matches_template": 1}],
        # Never stored: Minnesota 13.824 subd. 2(a) allows no vehicle attributes.
        "vehicle": {"color": [{"name": "silver", "confidence": 80.0}]},
    }  # fmt: skip


def plain_read(camera: Camera, plate: str, at: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "plate": plate, "camera_id": camera.camera_id, "camera_kind": camera.kind.value,
        "collected_at": at.isoformat(), "latitude": camera.latitude + rng.uniform(-0.01, 0.01),
        "longitude": camera.longitude + rng.uniform(-0.01, 0.01), "region": "us-mn",
        "confidence": round(rng.uniform(85, 97), 2),
    }  # fmt: skip


def camera_post(camera: Camera, plate: str, at: datetime, rng: random.Random) -> tuple[str, Any]:
    if camera.protocol == "alpr_results":
        return "/v1/openalpr", openalpr_results(camera, plate, at, rng)
    if camera.protocol == "alpr_group":
        return "/v1/openalpr", openalpr_group(camera, plate, at, rng)
    return "/v1/reads", plain_read(camera, plate, at, rng)
