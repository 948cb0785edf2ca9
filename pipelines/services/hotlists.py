"""Load a hotlist file: parse it, publish its entries, and audit the load."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from confluent_kafka import Producer

from connectors.hotlist.files import HotlistSource, ParseReport, parse_csv_file
from connectors.hotlist.formats import parse_genetec, parse_ncic
from connectors.hotlist.topic import publish_entries, publish_snapshot
from connectors.kafka.audit import AuditTrail, AuditWriter
from connectors.kafka.topics import make_producer
from pipelines.settings import Settings
from schemas import codec_for
from schemas.records import AuditAction, AuditEvent, new_id, utcnow


class HotlistFormat(StrEnum):
    LPRX = "lprx"
    GENETEC = "genetec"
    NCIC = "ncic"


@dataclass(frozen=True)
class HotlistLoad:
    list_id: str
    summary: str  # what changed on the hotlist topic
    refused: list[str]  # the rows refused, each with its line and reason


def parse_hotlist(path: Path, source: HotlistSource, file_format: HotlistFormat) -> ParseReport:
    if file_format is HotlistFormat.LPRX:
        return parse_csv_file(path, source)
    parse = parse_genetec if file_format is HotlistFormat.GENETEC else parse_ncic
    return parse(path.read_text(encoding="utf-8-sig", errors="replace"), source)


def load_audit(
    user: str, source: HotlistSource, path: Path, file_format: HotlistFormat, load: HotlistLoad
) -> AuditEvent:
    return AuditEvent(
        event_id=new_id(),
        occurred_at=utcnow(),
        actor=user,
        actor_agency_ori=source.owning_agency_ori,
        action=AuditAction.HOTLIST_LOAD,
        target_kind="hotlist",
        target_id=source.list_id,
        details={"file": path.name, "format": file_format.value, "result": load.summary,
                 "refused_rows": str(len(load.refused))},
    )  # fmt: skip


def load_hotlist(
    settings: Settings,
    path: Path,
    source: HotlistSource,
    *,
    user: str,
    file_format: HotlistFormat = HotlistFormat.LPRX,
    snapshot: bool = False,
    force: bool = False,
    producer: Producer | None = None,
    trail: AuditWriter | None = None,
) -> HotlistLoad:
    """Publishes the file's entries (a snapshot also retracts entries absent from it)
    and audits the load once Kafka has them. A snapshot that would retract more than
    ``hotlist_snapshot_max_retract_share`` of the live list is refused unless ``force``."""
    report = parse_hotlist(path, source, file_format)
    codec = codec_for(settings.schema_registry_url)
    producer = producer or make_producer(settings, "lprx-hotlist-loader")
    if snapshot:
        result = publish_snapshot(
            settings, producer, codec, source.list_id, report.entries,
            max_retract_share=settings.hotlist_snapshot_max_retract_share, force=force,
        )  # fmt: skip
        summary = (
            f"{result.upserted} new or changed, {result.unchanged} unchanged, "
            f"{result.retracted} retracted"
        )
    else:
        summary = f"{publish_entries(settings, producer, codec, report.entries)} loaded"
    load = HotlistLoad(source.list_id, summary, report.errors)
    trail = trail or AuditTrail(settings, producer=producer, codec=codec)
    trail.record_acknowledged(load_audit(user, source, path, file_format, load))
    return load
