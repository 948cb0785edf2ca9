"""`lprx demo`: the whole job on this machine, end to end.

Starts (or reuses) Kafka and Cassandra, creates topics and tables, loads a sample
hotlist and three agencies' sharing agreements, starts the workers and the HTTP ingest
as separate processes, with the people's API (``lprx api``) and its demo people, and runs
a simulated camera network: plate-reading cameras post
OpenALPR webhooks and plain reads over HTTP, and legacy cameras send frames that the OCR
worker reads. Progress is shown live; a summary ends it.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live

from connectors.ingest.credentials import CredentialFile
from pipelines.access import Role, as_role
from pipelines.demo.cameras import run_cameras
from pipelines.demo.observed import Observed, wait_drained
from pipelines.demo.people import make_people
from pipelines.demo.processes import start_processes, wait_until_api_up, wait_until_up
from pipelines.demo.scenario import (
    CAMERAS,
    FRAME_CAMERA,
    LAKESIDE,
    PINE,
    SAMPLES,
    demo_agreements,
)
from pipelines.demo.summary import print_login, print_summary, summarize
from pipelines.settings import Settings
from schemas.hotlist_policy import HotlistSourceKind
from schemas.records import CameraKind, HotlistCategory

__all__ = ["SAMPLES", "run_demo"]


def run_demo(settings: Settings, seconds: float, console: Console) -> dict[str, Any]:
    started = time.monotonic()
    console.rule("[bold]lprx demo")
    hot = prepare(settings, console)
    people = make_people(as_role(settings, Role.SETUP))
    log_dir = settings.cache_dir / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    # A fresh credential per camera each run; only their argon2id hashes are on disk
    # (the file the ingest process reads), and nothing prints the tokens.
    credentials = CredentialFile(log_dir / "cameras.json")
    credentials.path.unlink(missing_ok=True)
    tokens = {c.camera_id: credentials.add(c.agency.ori, c.camera_id, c.kind) for c in CAMERAS}
    observed = Observed((settings.metrics_port, settings.metrics_port + 1, settings.ingest_port))
    processes = start_processes(settings, log_dir, credentials.path, console)
    try:
        wait_until_up(f"http://{settings.ingest_host}:{settings.ingest_port}", processes)
        wait_until_api_up(settings, processes)
        console.print(
            f"5/6 camera network for {seconds:.0f} s: {len(CAMERAS)} plate-reading cameras "
            "posting over HTTP, 1 legacy camera sending frames for OCR"
        )
        with Live(console=console, refresh_per_second=2) as live:
            run_cameras(settings, tokens, hot, seconds, observed, processes, live, started)
            console.print("6/6 letting the workers drain")
            wait_drained(observed, live, started)
    finally:
        processes.stop()
    summary = summarize(settings, observed, started)
    print_summary(console, summary, hot)
    print_login(console, settings, people)
    return summary


def prepare(settings: Settings, console: Console) -> list[str]:
    """Servers, topics, tables, the sample hotlist and the agreements."""
    from connectors import servers
    from connectors.hotlist.files import HotlistSource, parse_csv_file
    from connectors.hotlist.topic import publish_snapshot
    from connectors.kafka.agreements import publish_agreement
    from connectors.kafka.topics import make_producer
    from pipelines.access import add_partner, provision
    from schemas import codec_for

    console.print("1/6 servers: Kafka (KRaft, SASL/SCRAM over TLS) and Cassandra 5 (TLS, roles)")
    settings = as_role(settings, Role.SETUP)
    servers.up(settings)
    console.print("2/6 topics, users and ACLs, keyspace, tables and grants")
    provision(settings)
    console.print("3/6 sample hotlist and three agencies' sharing agreements")
    codec = codec_for(settings.schema_registry_url)
    producer = make_producer(settings, "lprx-demo-admin")
    source = HotlistSource(
        "demo-hotlist", "MN BCA (sample)", LAKESIDE.ori, HotlistCategory.STOLEN_VEHICLE,
        kind=HotlistSourceKind.STATE_FILE,
    )  # fmt: skip
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
    register_cameras(settings)
    return [entry.plate for entry in report.entries]


def register_cameras(settings: Settings) -> None:
    """The demo's cameras in the camera registry (once), so the public log of use lists
    its fixed locations; an agency does this with `lprx cameras add`."""
    from connectors.cassandra import CassandraStore
    from connectors.cassandra.cameras import CameraRegistry
    from schemas.cameras import CameraLocation, RegisteredCamera
    from schemas.records import utcnow

    now = utcnow()
    with CassandraStore(settings, create_schema=False) as store:
        registry = CameraRegistry(store.session, store.keyspace)
        for c in (*CAMERAS, FRAME_CAMERA):
            if registry.camera(c.agency.ori, c.camera_id) is not None:
                continue
            registry.save_camera(RegisteredCamera(c.agency.ori, c.camera_id, c.kind, now.date(),
                                                  "demo", now))  # fmt: skip
            if c.kind is CameraKind.FIXED:
                place = CameraLocation(c.latitude, c.longitude, f"{c.camera_id} (demo site)",
                                       now.date())  # fmt: skip
                registry.save_location(c.agency.ori, c.camera_id, place, "demo", now)
