"""`lprx demo`: the whole job on this machine, end to end.

Starts (or reuses) Kafka and Cassandra, creates topics and tables, loads a sample
hotlist and three agencies' sharing agreements, starts the workers and the HTTP ingest
as separate processes, and runs a simulated camera network: plate-reading cameras post
OpenALPR webhooks and plain reads over HTTP, and legacy cameras send frames that the OCR
worker reads. Progress is shown live; a summary ends it.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.live import Live
from rich.table import Table

from connectors.ingest.credentials import CredentialFile
from pipelines.access import Role, as_role
from pipelines.settings import REPO_ROOT, Settings
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
        child = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
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


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """The samples of one /metrics endpoint (empty while it is not up)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2, follow_redirects=True).text
    except httpx.HTTPError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_sum(samples: Samples, name: str, **labels: str) -> int:
    return int(
        sum(
            value
            for (sample_name, sample_labels), value in samples.items()
            if sample_name == name
            and all(dict(sample_labels).get(k) == v for k, v in labels.items())
        )
    )


@dataclass
class Observed:
    """What the demo knows: what the cameras sent, and what the processes report."""

    ports: tuple[int, int, int]  # pipeline worker, OCR worker, ingest
    posted: int = 0
    refused_posts: int = 0
    repeats_sent: int = 0
    frames_sent: int = 0
    pipeline: Samples = field(default_factory=dict)
    ocr: Samples = field(default_factory=dict)
    ingest: Samples = field(default_factory=dict)

    def refresh(self) -> None:
        pipeline_port, ocr_port, ingest_port = self.ports
        self.pipeline, self.ocr, self.ingest = (
            scrape(pipeline_port),
            scrape(ocr_port),
            scrape(ingest_port),
        )

    def records(
        self, samples: Samples, stage: str | None = None, outcome: str | None = None
    ) -> int:
        labels = {k: v for k, v in (("stage", stage), ("outcome", outcome)) if v is not None}
        return metric_sum(samples, "lprx_records_total", **labels)

    def figures(self) -> dict[str, int]:
        ocr_reads = self.records(self.ocr, "ocr", "ok")
        return {
            "camera_posts": self.posted,
            "camera_posts_refused": self.refused_posts,
            "repeat_reads_sent": self.repeats_sent,
            "frames_sent": self.frames_sent,
            "reads_in": metric_sum(self.ingest, "lprx_ingest_reads_total", outcome="accepted")
            + ocr_reads,
            "frames_read_by_ocr": ocr_reads,
            "frames_without_plate": self.records(self.ocr, "ocr", "no_plate"),
            "duplicates_dropped": self.records(self.pipeline, "dedup", "duplicate"),
            "hits": self.records(self.pipeline, "match", "hit"),
            "repeat_hits_not_re_alerted": self.records(self.pipeline, "share", "suppressed"),
            "reads_stored": self.records(self.pipeline, "store", "ok"),
            "dead_letters": self.records(self.pipeline, outcome="dead_letter")
            + self.records(self.ocr, outcome="dead_letter"),
        }

    def table(self, elapsed: float) -> Table:
        table = Table(title=f"lprx demo, {elapsed:.0f} s")
        table.add_column("what")
        table.add_column("count", justify="right")
        for name, value in self.figures().items():
            table.add_row(name.replace("_", " "), str(value))
        return table


def run_demo(settings: Settings, seconds: float, console: Console) -> dict[str, Any]:
    started = time.monotonic()
    console.rule("[bold]lprx demo")
    hot = _prepare(settings, console)
    log_dir = settings.cache_dir / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    # A fresh credential per camera each run; only their argon2id hashes are on disk
    # (the file the ingest process reads), and nothing prints the tokens.
    credentials = CredentialFile(log_dir / "cameras.json")
    credentials.path.unlink(missing_ok=True)
    tokens = {c.camera_id: credentials.add(c.agency.ori, c.camera_id, c.kind) for c in CAMERAS}
    observed = Observed((settings.metrics_port, settings.metrics_port + 1, settings.ingest_port))
    processes = _start_processes(settings, log_dir, credentials.path, console)
    try:
        _wait_until_up(f"http://{settings.ingest_host}:{settings.ingest_port}", processes)
        console.print(
            f"5/6 camera network for {seconds:.0f} s: {len(CAMERAS)} plate-reading cameras "
            "posting over HTTP, 1 legacy camera sending frames for OCR"
        )
        with Live(console=console, refresh_per_second=2) as live:
            _run_cameras(settings, tokens, hot, seconds, observed, processes, live, started)
            console.print("6/6 letting the workers drain")
            _wait_drained(observed, live, started)
    finally:
        processes.stop()
    summary = _summary(settings, observed, started)
    _print_summary(console, summary, hot)
    return summary


def _prepare(settings: Settings, console: Console) -> list[str]:
    """Servers, topics, tables, the sample hotlist and the agreements."""
    from connectors import servers
    from connectors.hotlist.files import HotlistSource, parse_csv_file
    from connectors.hotlist.topic import publish_snapshot
    from connectors.kafka.agreements import publish_agreement
    from connectors.kafka.topics import make_producer
    from pipelines.access import add_partner, provision
    from schemas import codec_for

    console.print("1/6 servers: Kafka (KRaft) and Cassandra 5")
    settings = as_role(settings, Role.SETUP)
    servers.up(settings)
    console.print("2/6 topics, users and ACLs, keyspace and tables")
    provision(settings)
    console.print("3/6 sample hotlist and three agencies' sharing agreements")
    codec = codec_for(settings.schema_registry_url)
    producer = make_producer(settings, "lprx-demo-admin")
    source = HotlistSource(
        "demo-hotlist", "MN BCA (sample)", LAKESIDE.ori, HotlistCategory.STOLEN_VEHICLE
    )
    report = parse_csv_file(SAMPLES / "hotlist.csv", source)
    # A snapshot writes only what changed, so a second demo run raises no historical
    # hits for entries that were already listed.
    publish_snapshot(settings, producer, codec, source.list_id, report.entries)
    console.print(f"    {len(report.entries)} hotlist entries")
    for agreement in demo_agreements():
        publish_agreement(settings, producer, codec, agreement)
        add_partner(settings, agreement.partner_agency_ori)
        categories = ", ".join(c.value for c in agreement.hit_categories)
        console.print(
            f"    {agreement.owner_agency_ori} -> {agreement.partner_agency_ori}: {categories}"
        )
    console.print(f"    {PINE.ori} ({PINE.name}) has signed no agreement: it shares nothing")
    return [entry.plate for entry in report.entries]


def _start_processes(
    settings: Settings, log_dir: Path, credentials: Path, console: Console
) -> Processes:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = Processes(log_dir)
    console.print(f"4/6 workers and HTTP ingest (logs in {log_dir})")
    pipeline_stages = ["--stages", "normalize,match,share,store"]
    pipeline_port = ["--metrics-port", str(settings.metrics_port)]
    processes.start("worker-pipeline", ["worker", *pipeline_stages, *pipeline_port], env)
    ocr_port = ["--metrics-port", str(settings.metrics_port + 1)]
    processes.start("worker-ocr", ["worker", "--stages", "ocr", *ocr_port], env)
    processes.start("ingest", ["ingest"], {**env, "LPRX_INGEST_CREDENTIALS_FILE": str(credentials)})
    return processes


def _run_cameras(
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
    population = [_plate(rng) for _ in range(400)]
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
                _post(client, tokens, camera, plate, utcnow(), rng, observed)
                if rng.random() < 0.25:  # the same car read again a moment later
                    again = utcnow() + timedelta(milliseconds=rng.randint(200, 1500))
                    _post(client, tokens, camera, plate, again, rng, observed)
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


def _post(
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


def _wait_until_up(ingest_url: str, processes: Processes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{ingest_url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError("the ingest endpoint did not come up in time")


def _wait_drained(observed: Observed, live: Live, started: float, timeout: float = 120) -> None:
    """Until every accepted read is through dedup and store, and every frame is read."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        observed.refresh()
        live.update(observed.table(time.monotonic() - started))
        figures = observed.figures()
        frames_done = (
            figures["frames_read_by_ocr"]
            + figures["frames_without_plate"]
            + observed.records(observed.ocr, "ocr", "dead_letter")
        )
        through_dedup = observed.records(observed.pipeline, "dedup")
        stored_or_dropped = figures["reads_stored"] + figures["duplicates_dropped"]
        if (
            frames_done >= observed.frames_sent
            and through_dedup >= figures["reads_in"]
            and stored_or_dropped >= through_dedup
        ):
            return
        time.sleep(0.5)


def _summary(settings: Settings, observed: Observed, started: float) -> dict[str, Any]:
    from connectors.cassandra import CassandraStore

    with CassandraStore(as_role(settings, Role.READER), create_schema=False) as store:
        rows = store.count("reads_by_plate")
        hit_rows = sum(len(store.hits_for_agency(a.ori, 100000)) for a in AGENCIES)
    return {
        **observed.figures(),
        "hits_delivered_per_agency": {
            a.ori: metric_sum(observed.pipeline, "lprx_hits_delivered_total", recipient=a.ori)
            for a in AGENCIES
        },
        "cassandra_rows_all_runs": {"reads_by_plate": rows, "hits_by_agency": hit_rows},
        "seconds": round(time.monotonic() - started, 1),
    }


def _print_summary(console: Console, summary: dict[str, Any], hot: list[str]) -> None:
    console.rule("[bold]summary")
    console.print(
        f"reads in: {summary['reads_in']} ({summary['frames_read_by_ocr']} of them read by OCR "
        f"from {summary['frames_sent']} frames)"
    )
    console.print(f"duplicates dropped: {summary['duplicates_dropped']}")
    console.print(
        f"hotlist hits: {summary['hits']} ({summary['repeat_hits_not_re_alerted']} repeats of a "
        "car already alerted: stored, not re-alerted)"
    )
    for ori, count in summary["hits_delivered_per_agency"].items():
        name = next(a.name for a in AGENCIES if a.ori == ori)
        console.print(f"  delivered to {ori} ({name}): {count}")
    console.print(f"reads stored in Cassandra this run: {summary['reads_stored']}")
    console.print(f"rows in Cassandra, all runs: {summary['cassandra_rows_all_runs']}")
    console.print(f"dead letters: {summary['dead_letters']}")
    console.rule("[bold]look further")
    lprx = ".venv/bin/lprx"
    login = f"--user your.login --agency {LAKESIDE.ori}"
    for line in (
        f"{lprx} partner hits {RIVERTON.ori} --user your.login   # what Riverton received",
        f"{lprx} partner hits {PINE.ori} --user your.login   # Pine County: Amber/missing only",
        f"{lprx} reads search {hot[0]} {login} --purpose 'case 26-001234 stolen vehicle'",
        f"{lprx} audit {login} --purpose 'review of demo activity'   # who did what",
        f"{lprx} deadletters {login}                # bad input, with stage and reason",
        "curl -s http://127.0.0.1:6066/metrics | grep lprx_   # while a worker runs",
        f"{lprx} services status | down",
    ):
        console.print(f"  {line}")
