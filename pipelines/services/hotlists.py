"""Load a hotlist file: check its declared source, parse it, drop what the owning
agency's jurisdiction excludes, publish the rest, and audit the load (a refused load too).

A load declares its source (13.824 subd. 2(c); ``schemas/hotlist_policy.py``): the
state file, an NCIC extract with its NCIC file, or a list tied to an active
investigation with its case number. Any other declaration is refused, as is a load for
a purpose the jurisdiction bars.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from confluent_kafka import Producer

from connectors.hotlist.files import HotlistSource, ParseReport, parse_csv_file
from connectors.hotlist.formats import parse_genetec, parse_ncic
from connectors.hotlist.topic import publish_entries, publish_snapshot
from connectors.kafka.audit import AuditTrail, AuditWriter
from connectors.kafka.topics import make_producer
from pipelines.services.scope import audit_refusal
from pipelines.settings import Settings
from schemas import codec_for
from schemas.errors import RequestRefused
from schemas.hotlist_policy import (
    HotlistSourceKind,
    JurisdictionPolicy,
    ListPurpose,
    NcicFile,
    policy_for,
    split_by_policy,
)
from schemas.records import AuditAction, AuditEvent, AuditOutcome, new_id, utcnow

E = TypeVar("E", bound=StrEnum)
_CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./:_-]{2,39}")
SOURCES_ALLOWED = (
    "the state file (state_file), an NCIC extract (ncic, naming its NCIC file) or a list "
    "tied to an active criminal investigation (investigation, with its case number)"
)


class HotlistFormat(StrEnum):
    LPRX = "lprx"
    GENETEC = "genetec"
    NCIC = "ncic"


@dataclass(frozen=True)
class HotlistLoad:
    list_id: str
    summary: str  # what changed on the hotlist topic
    refused: list[str]  # the rows refused, each with its line and reason
    excluded: dict[str, int] = field(default_factory=dict)  # dropped by policy, per reason


@dataclass(frozen=True)
class Declaration:
    """What the loader says the list is, as given (checked by ``declared_source``)."""

    kind: str
    ncic_file: str | None = None
    case_number: str | None = None
    purpose: str | None = None


def _enum_member(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value.strip().lower())
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise RequestRefused(f"unknown {what} {value.strip()!r} (known: {known})") from None


def checked_declaration(
    declaration: Declaration, policy: JurisdictionPolicy
) -> tuple[HotlistSourceKind, NcicFile | None, str | None, ListPurpose | None]:
    """The checked declaration; raises RequestRefused saying what the law allows."""
    try:
        kind = HotlistSourceKind(declaration.kind.strip().lower())
    except ValueError:
        raise RequestRefused(
            f"a hotlist's source is {SOURCES_ALLOWED} (Minn. Stat. 13.824 subd. 2(c)); "
            f"{declaration.kind.strip() or 'none'!r} is none of these"
        ) from None
    ncic = None
    if declaration.ncic_file:
        if kind is not HotlistSourceKind.NCIC:
            raise RequestRefused("an NCIC file is named only for an NCIC extract")
        ncic = _enum_member(NcicFile, declaration.ncic_file, "NCIC file")
    case = (declaration.case_number or "").strip() or None
    if kind is HotlistSourceKind.INVESTIGATION and (
        case is None or not _CASE_NUMBER.fullmatch(case)
    ):
        raise RequestRefused(
            "a list tied to an active investigation needs its case number (3-40 letters, "
            "digits, ./:_-; Minn. Stat. 13.824 subd. 2(c))"
        )
    purpose = None
    if declaration.purpose:
        purpose = _enum_member(ListPurpose, declaration.purpose, "purpose")
    elif kind is HotlistSourceKind.INVESTIGATION:
        purpose = ListPurpose.CRIMINAL_INVESTIGATION
    if purpose is not None and purpose in policy.barred_purposes:
        raise RequestRefused(f"the purpose {purpose.value} is barred in this jurisdiction")
    return kind, ncic, case, purpose


def declared_source(
    settings: Settings, source: HotlistSource, declaration: Declaration, *, user: str,
    trail: AuditWriter,
) -> HotlistSource:  # fmt: skip
    """``source`` with its checked declaration; a refusal is audited (DENIED) and raised."""
    policy = policy_for(settings.jurisdiction_policies, source.owning_agency_ori)
    try:
        kind, ncic, case, purpose = checked_declaration(declaration, policy)
    except RequestRefused as refused:
        audit_refusal(trail, AuditEvent(
            event_id=new_id(), occurred_at=utcnow(), actor=user,
            actor_agency_ori=source.owning_agency_ori, action=AuditAction.HOTLIST_LOAD,
            target_kind="hotlist", target_id=source.list_id, outcome=AuditOutcome.DENIED,
            details={"reason": str(refused), "source": source.source,
                     "source_kind": declaration.kind[:40]},
        ))  # fmt: skip
        raise
    return replace(source, kind=kind, ncic_file=ncic, case_number=case, purpose=purpose)


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
                 "refused_rows": str(len(load.refused)),
                 "excluded_by_policy": str(sum(load.excluded.values())),
                 **_declared_details(source)},
    )  # fmt: skip


def _declared_details(source: HotlistSource) -> dict[str, str]:
    declared = {"source": source.source, "source_kind": source.kind, "ncic_file": source.ncic_file,
                "case_number": source.case_number, "purpose": source.purpose}  # fmt: skip
    return {name: str(value) for name, value in declared.items() if value}


def excluded_summary(excluded: Mapping[str, int]) -> str:
    if not excluded:
        return ""
    reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(excluded.items()))
    return f"; {sum(excluded.values())} excluded by policy ({reasons})"


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
    # Excluded entries never reach the topic (a snapshot retracts them if listed).
    entries, excluded = split_by_policy(settings.jurisdiction_policies, report.entries)
    codec = codec_for(settings.schema_registry_url)
    producer = producer or make_producer(settings, "lprx-hotlist-loader")
    if snapshot:
        result = publish_snapshot(
            settings, producer, codec, source.list_id, entries,
            max_retract_share=settings.hotlist_snapshot_max_retract_share, force=force,
        )  # fmt: skip
        summary = (
            f"{result.upserted} new or changed, {result.unchanged} unchanged, "
            f"{result.retracted} retracted"
        )
    else:
        summary = f"{publish_entries(settings, producer, codec, entries)} loaded"
    summary += excluded_summary(excluded)
    load = HotlistLoad(source.list_id, summary, report.errors, excluded)
    trail = trail or AuditTrail(settings, producer=producer, codec=codec)
    trail.record_acknowledged(load_audit(user, source, path, file_format, load))
    return load
