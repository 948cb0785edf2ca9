"""`lprx demo`: the whole job on this machine, end to end.

Starts (or reuses) Kafka and Cassandra, creates topics and tables, loads a sample
hotlist and three agencies' sharing agreements, starts the workers and the HTTP ingest
as separate processes, and runs a simulated camera network: plate-reading cameras post
OpenALPR webhooks and plain reads over HTTP, and legacy cameras send frames that the OCR
worker reads. Progress is shown live; a summary ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipelines.records import CameraKind, HotlistCategory, SharingAgreement, utcnow
from pipelines.settings import REPO_ROOT, Settings

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
FRAME_CAMERA = Camera("lakeside-downtown-legacy", LAKESIDE, CameraKind.FIXED, "frames",
                      44.9370, -93.4990)  # fmt: skip


def demo_agreements() -> list[SharingAgreement]:
    from connectors.agreements import agreement_id

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


def _plate(rng: random.Random) -> str:
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


# --- processes and metrics -----------------------------------------------------------------


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", *args],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )  # fmt: skip
        self.children.append((name, child))

    def check(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {child.returncode}:\n{tail}")

    def stop(self) -> None:
        for _, child in self.children:
            child.terminate()
        for _, child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Counter and gauge samples of one /metrics endpoint (empty if not up yet)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def metric_sum(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
               **labels: str) -> float:  # fmt: skip
    return sum(
        value for (n, lbls), value in samples.items()
        if n == name and all(dict(lbls).get(k) == v for k, v in labels.items())
    )  # fmt: skip


@dataclass
class Progress:
    posted: int = 0
    frames_sent: int = 0
    duplicates_sent: int = 0
    rejected_posts: int = 0


def progress_table(progress: Progress, pipeline: dict[Any, float], ocr: dict[Any, float],
                   ingest: dict[Any, float], elapsed: float) -> Table:  # fmt: skip
    table = Table(title=f"lprx demo: {elapsed:4.0f} s", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("camera posts sent", progress.posted),
        ("frames sent by legacy camera", progress.frames_sent),
        ("reads accepted by ingest", metric_sum(ingest, "lprx_ingest_reads_total", outcome="accepted")),
        ("frames read by OCR", metric_sum(ocr, "lprx_records_total", stage="ocr", outcome="ok")),
        ("reads normalised", metric_sum(pipeline, "lprx_records_total", stage="normalize", outcome="ok")),
        ("duplicates dropped", metric_sum(pipeline, "lprx_records_total", stage="dedup", outcome="duplicate")),
        ("hotlist hits", metric_sum(pipeline, "lprx_records_total", stage="match", outcome="hit")),
        ("reads stored in Cassandra", metric_sum(pipeline, "lprx_records_total", stage="store", outcome="ok")),
        ("dead letters", metric_sum(pipeline, "lprx_records_total", outcome="dead_letter")
         + metric_sum(ocr, "lprx_records_total", outcome="dead_letter")),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, f"{int(value)}")
    return table


def run_demo(settings: Settings, seconds: float, console: Console) -> dict[str, Any]:
    from connectors import servers
    from connectors.agreements import publish_agreement
    from connectors.cassandra_store import CassandraStore
    from connectors.frames import iter_frames
    from connectors.hotlist import HotlistSource, parse_csv_file, publish_entries
    from connectors.kafka import core_topics, ensure_topics, make_producer
    from connectors.sink import KafkaSink
    from pipelines.records import Frame, new_id
    from schemas import codec_for

    started = time.monotonic()
    console.rule("[bold]lprx demo")
    console.print("1/6 servers: Kafka (KRaft) and Cassandra 5")
    servers.up(settings)
    console.print("2/6 topics, keyspace and tables")
    ensure_topics(settings, core_topics(settings))
    codec = codec_for(settings.schema_registry_url)
    producer = make_producer(settings, "lprx-demo-admin")

    console.print("3/6 sample hotlist and three agencies' sharing agreements")
    report = parse_csv_file(
        SAMPLES / "hotlist.csv",
        HotlistSource("demo-hotlist", "MN BCA (sample)", LAKESIDE.ori, HotlistCategory.STOLEN_VEHICLE),
    )  # fmt: skip
    publish_entries(settings, producer, codec, report.entries)
    for agreement in demo_agreements():
        publish_agreement(settings, producer, codec, agreement)
        console.print(f"    {agreement.owner_agency_ori} -> {agreement.partner_agency_ori}: "
                      f"{', '.join(c.value for c in agreement.hit_categories)}")  # fmt: skip
    console.print(f"    {PINE.ori} ({PINE.name}) shares nothing: no agreement signed")

    log_dir = settings.cache_dir / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    tokens = {a.ori: secrets.token_urlsafe(24) for a in AGENCIES}
    pipeline_port, ocr_port = settings.metrics_port, settings.metrics_port + 1
    ingest_url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = Processes(log_dir)
    console.print(f"4/6 workers and HTTP ingest (logs in {log_dir})")
    processes.start("worker-pipeline", ["worker", "--stages", "normalize,match,share,store",
                                         "--metrics-port", str(pipeline_port)], env)  # fmt: skip
    processes.start("worker-ocr", ["worker", "--stages", "ocr",
                                   "--metrics-port", str(ocr_port)], env)  # fmt: skip
    # The ingest alone holds the camera tokens; they are never printed or logged.
    processes.start("ingest", ["ingest"], {**env, "LPRX_INGEST_TOKENS": json.dumps(tokens)})
    progress = Progress()
    try:
        _wait_until_up(ingest_url, processes)
        console.print(f"5/6 camera network for {seconds:.0f} s: {len(CAMERAS)} plate-reading "
                      f"cameras over HTTP, 1 legacy camera sending frames for OCR")  # fmt: skip
        rng = random.Random(13824)
        hot = hotlist_plates()
        population = [_plate(rng) for _ in range(400)]
        frames = list(iter_frames(str(SAMPLES / "frames")))
        sink = KafkaSink(settings, "lprx-demo-camera")
        with httpx.Client(base_url=ingest_url, timeout=10) as client, Live(console=console) as live:
            end = time.monotonic() + seconds
            frame_index = 0
            next_frame = time.monotonic()
            while time.monotonic() < end:
                processes.check()
                for camera in CAMERAS:
                    plate = rng.choice(hot) if rng.random() < 0.06 else rng.choice(population)
                    _post(client, tokens, camera, plate, utcnow(), rng, progress)
                    if rng.random() < 0.25:  # the same car read again a moment later
                        again = utcnow() + timedelta(milliseconds=rng.randint(200, 1500))
                        _post(client, tokens, camera, plate, again, rng, progress)
                        progress.duplicates_sent += 1
                if time.monotonic() >= next_frame and frames:
                    _send_frame(sink, frames[frame_index % len(frames)], Frame, new_id)
                    frame_index += 1
                    progress.frames_sent += 1
                    next_frame = time.monotonic() + 2.0
                live.update(progress_table(progress, scrape(pipeline_port), scrape(ocr_port),
                                           scrape(settings.ingest_port), time.monotonic() - started))  # fmt: skip
                time.sleep(0.4)
            sink.flush(10)
            console.print("6/6 letting the workers drain")
            _wait_drained(pipeline_port, ocr_port, progress, live, started, settings.ingest_port)
        pipeline, ocr, ingest = (
            scrape(pipeline_port),
            scrape(ocr_port),
            scrape(settings.ingest_port),
        )
    finally:
        processes.stop()
    with CassandraStore(settings) as store:
        rows = store.count("reads_by_plate")
        hit_rows = sum(len(store.hits_for_agency(a.ori, 10000)) for a in AGENCIES)
    delivered = {
        a.ori: int(metric_sum(pipeline, "lprx_hits_delivered_total", recipient=a.ori))
        for a in AGENCIES
    }
    summary = {
        "camera_posts": progress.posted,
        "frames_sent": progress.frames_sent,
        "reads_in": int(metric_sum(ingest, "lprx_ingest_reads_total", outcome="accepted")
                        + metric_sum(ocr, "lprx_records_total", stage="ocr", outcome="ok")),
        "frames_read_by_ocr": int(metric_sum(ocr, "lprx_records_total", stage="ocr", outcome="ok")),
        "duplicates_dropped": int(metric_sum(pipeline, "lprx_records_total", stage="dedup",
                                             outcome="duplicate")),
        "hits": int(metric_sum(pipeline, "lprx_records_total", stage="match", outcome="hit")),
        "hits_delivered_per_agency": delivered,
        "reads_stored_this_run": int(metric_sum(pipeline, "lprx_records_total", stage="store",
                                                outcome="ok")),
        "cassandra_rows": {"reads_by_plate": rows, "hits_by_agency": hit_rows},
        "dead_letters": int(metric_sum(pipeline, "lprx_records_total", outcome="dead_letter")
                            + metric_sum(ocr, "lprx_records_total", outcome="dead_letter")),
        "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    _print_summary(console, summary, hot)
    return summary


def _post(client: httpx.Client, tokens: dict[str, str], camera: Camera, plate: str,
          at: datetime, rng: random.Random, progress: Progress) -> None:  # fmt: skip
    path, body = camera_post(camera, plate, at, rng)
    params = {"camera_kind": camera.kind.value} if path == "/v1/openalpr" else {}
    response = client.post(path, json=body, params=params,
                           headers={"Authorization": f"Bearer {tokens[camera.agency.ori]}"})  # fmt: skip
    progress.posted += 1
    if response.status_code >= 300:
        progress.rejected_posts += 1


def _send_frame(sink: Any, image: Any, frame_type: Any, new_id: Any) -> None:
    import cv2

    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        return
    height, width = image.shape[:2]
    sink.publish_frame(
        frame_type(
            frame_id=new_id(), agency_ori=FRAME_CAMERA.agency.ori,
            camera_id=FRAME_CAMERA.camera_id, camera_kind=FRAME_CAMERA.kind,
            collected_at=datetime.now(UTC), width=width, height=height, image=jpeg.tobytes(),
            latitude=FRAME_CAMERA.latitude, longitude=FRAME_CAMERA.longitude,
        )
    )  # fmt: skip


def _wait_until_up(ingest_url: str, processes: Processes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{ingest_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError("the ingest endpoint did not come up in time")


def _wait_drained(pipeline_port: int, ocr_port: int, progress: Progress, live: Live,
                  started: float, ingest_port: int, timeout: float = 90) -> None:  # fmt: skip
    """Until every accepted read has been normalised and every frame has been read."""
    deadline = time.monotonic() + timeout
    stable_since, last = time.monotonic(), -1.0
    while time.monotonic() < deadline:
        pipeline, ocr, ingest = scrape(pipeline_port), scrape(ocr_port), scrape(ingest_port)
        live.update(progress_table(progress, pipeline, ocr, ingest, time.monotonic() - started))
        handled = metric_sum(pipeline, "lprx_records_total", stage="store") + metric_sum(
            pipeline, "lprx_records_total", stage="dedup", outcome="duplicate")  # fmt: skip
        frames_done = sum(metric_sum(ocr, "lprx_records_total", stage="ocr", outcome=o)
                          for o in ("ok", "no_plate", "dead_letter"))  # fmt: skip
        if handled != last:
            stable_since, last = time.monotonic(), handled
        if frames_done >= progress.frames_sent and time.monotonic() - stable_since > 4:
            return
        time.sleep(0.5)


def _print_summary(console: Console, summary: dict[str, Any], hot: list[str]) -> None:
    console.rule("[bold]summary")
    console.print(
        f"reads in: {summary['reads_in']}  (of which OCR: {summary['frames_read_by_ocr']})"
    )
    console.print(f"duplicates dropped: {summary['duplicates_dropped']}")
    console.print(f"hotlist hits: {summary['hits']}")
    for ori, count in summary["hits_delivered_per_agency"].items():
        name = next(a.name for a in AGENCIES if a.ori == ori)
        console.print(f"  delivered to {ori} ({name}): {count}")
    console.print(f"reads stored this run: {summary['reads_stored_this_run']}; rows in Cassandra: "
                  f"{summary['cassandra_rows']}")  # fmt: skip
    console.print(f"dead letters: {summary['dead_letters']}")
    console.rule("[bold]look further")
    console.print(f"  .venv/bin/lprx partner hits {RIVERTON.ori}      # what Riverton received")
    console.print(f"  .venv/bin/lprx partner hits {PINE.ori}      # Pine County: Amber alerts only")
    console.print(f"  .venv/bin/lprx reads search {hot[0]} --user your.login --agency {LAKESIDE.ori} "
                  "--purpose 'case 26-001234 stolen vehicle'   # audited")  # fmt: skip
    console.print("  .venv/bin/lprx deadletters                       # bad input, with reasons")
    console.print("  .venv/bin/lprx worker                             # run the pipeline yourself;"
                  " metrics on http://127.0.0.1:6066/metrics")  # fmt: skip
    console.print("  .venv/bin/lprx services status | down")
