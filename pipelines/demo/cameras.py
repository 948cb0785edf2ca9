"""The simulated camera network: plate-reading cameras post to the HTTP ingest, and a
legacy camera sends frames to the OCR stage."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

import httpx
from rich.live import Live

from pipelines.access import Role, as_role
from pipelines.demo.observed import Observed
from pipelines.demo.processes import Processes
from pipelines.demo.scenario import (
    CAMERAS,
    FRAME_CAMERA,
    SAMPLES,
    Camera,
    camera_post,
    random_plate,
)
from pipelines.settings import Settings
from schemas.records import utcnow


def run_cameras(
    settings: Settings,
    tokens: dict[str, str],
    hot: list[str],
    seconds: float,
    observed: Observed,
    processes: Processes,
    live: Live,
    started: float,
) -> None:
    from connectors.cameras.frames import FrameCamera, encode_jpeg, iter_frames, make_frame
    from connectors.kafka.sink import KafkaSink

    legacy = FrameCamera(
        FRAME_CAMERA.camera_id,
        FRAME_CAMERA.agency.ori,
        FRAME_CAMERA.kind,
        FRAME_CAMERA.latitude,
        FRAME_CAMERA.longitude,
    )
    rng = random.Random(13824)
    population = [random_plate(rng) for _ in range(400)]
    frames = [encode_jpeg(image, 90, None) for image in iter_frames(str(SAMPLES / "frames"))]
    sink = KafkaSink(as_role(settings, Role.INGEST), "lprx-demo-legacy-camera")
    ingest_url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    end = time.monotonic() + seconds
    next_frame = time.monotonic()
    with httpx.Client(base_url=ingest_url, timeout=10) as client:
        while time.monotonic() < end:
            processes.check()
            for camera in CAMERAS:
                plate = rng.choice(hot) if rng.random() < 0.06 else rng.choice(population)
                post_read(client, tokens, camera, plate, utcnow(), rng, observed)
                if rng.random() < 0.25:  # the same car read again a moment later
                    again = utcnow() + timedelta(milliseconds=rng.randint(200, 1500))
                    post_read(client, tokens, camera, plate, again, rng, observed)
                    observed.repeats_sent += 1
            if frames and time.monotonic() >= next_frame:
                jpeg, width, height = frames[observed.frames_sent % len(frames)]
                sink.publish_frame(make_frame(legacy, jpeg, width, height))
                observed.frames_sent += 1
                # One frame every 2 s: what one OCR worker on 2 cores keeps up with.
                next_frame = time.monotonic() + 2.0
            observed.refresh()
            live.update(observed.table(time.monotonic() - started))
            time.sleep(0.4)
    sink.flush(10)


def post_read(
    client: httpx.Client,
    tokens: dict[str, str],
    camera: Camera,
    plate: str,
    at: datetime,
    rng: random.Random,
    observed: Observed,
) -> None:
    path, body = camera_post(camera, plate, at, rng)
    params = {"camera_kind": camera.kind.value} if path == "/v1/openalpr" else {}
    headers = {"Authorization": f"Bearer {tokens[camera.camera_id]}"}
    response = client.post(path, json=body, params=params, headers=headers)
    observed.posted += 1
    if response.status_code >= 300:
        observed.refused_posts += 1
