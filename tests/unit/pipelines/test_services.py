"""The application services without servers: audit trail, store and topics as fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.cassandra import HitLocation
from connectors.cassandra.search import ReadRow
from connectors.hotlist.files import HotlistSource
from connectors.kafka.audit import MemoryAuditTrail
from connectors.kafka.config import KafkaConfig
from pipelines.identity.config import ApiConfig
from pipelines.services.agreements import parse_categories
from pipelines.services.audit import utc_day
from pipelines.services.deadletters import dead_letters
from pipelines.services.hits import dispose_hit
from pipelines.services.hotlists import HotlistFormat, HotlistLoad, load_audit, parse_hotlist
from pipelines.services.scope import MIN_FACTUAL_BASIS, Justification, open_person_access
from pipelines.services.search import ReadQuery, search_reads
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook
from schemas import SingleObjectCodec
from schemas.deadletter import dead_letter
from schemas.errors import AccessDenied, NotFound, RequestRefused, TransientError
from schemas.people import Principal, Purpose, Role
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    Disposition,
    HitDisposition,
    HotlistCategory,
    new_id,
)

CODEC = SingleObjectCodec()
SETTINGS = Settings(topic_prefix="unit")
WHO = Principal("j.doe", "MN9990001", frozenset({Role.INVESTIGATOR}), "session")
WHY = Justification(
    Purpose.STOLEN_VEHICLE, "26-001234", "Reported stolen; owner statement on file."
)
CONFIG = ApiConfig()


class Store:
    """The search side of the store, remembering what it was asked."""

    def __init__(self, rows: list[ReadRow] | None = None) -> None:
        self.rows = rows or []
        self.asked: list[str] = []

    def plate_reads(self, plate: str, start: datetime, end: datetime, limit: int) -> list[ReadRow]:
        self.asked.append(plate)
        return [r for r in self.rows if r.plate == plate]

    def day_reads(self, agency_ori: str, day: str, start: datetime, end: datetime,
                  limit: int) -> list[ReadRow]:  # fmt: skip
        self.asked.append(f"{agency_ori}/{day}")
        return []


class Unacknowledged(MemoryAuditTrail):
    """A trail whose Kafka stops acknowledging after ``acknowledged`` events."""

    def __init__(self, acknowledged: int) -> None:
        super().__init__()
        self.acknowledged = acknowledged

    def record_acknowledged(self, event: AuditEvent, timeout: float = 10.0) -> None:
        if len(self.events) >= self.acknowledged:
            raise TransientError("Kafka did not acknowledge the audit event within 10 s")
        super().record_acknowledged(event, timeout)


class Topic:
    """A topic reader over fixed values, remembering which topic it read."""

    def __init__(self, values: list[bytes]) -> None:
        self.values = values
        self.read_topics: list[str] = []

    def __call__(
        self, settings: KafkaConfig, topic: str, limit: int, timeout: float
    ) -> list[bytes]:
        self.read_topics.append(topic)
        return self.values[:limit]


def query(plate: str = "ABC123") -> ReadQuery:
    now = datetime.now(UTC)
    return ReadQuery(start=now - timedelta(days=1), end=now, plate=plate)


def a_row(plate: str = "ABC123", agency: str = "MN9990001") -> ReadRow:
    now = datetime.now(UTC)
    return ReadRow(new_id(), plate, now, agency, "cam-1", None, None, 90.0, now)


def find(store: Store, trail: MemoryAuditTrail, why: Justification = WHY) -> list[ReadRow]:
    return search_reads(store, trail, AgreementBook(), WHO, query(), why, CONFIG).reads


class TestAuditedAccess:
    def test_a_search_without_its_factual_basis_is_refused_and_audited(self) -> None:
        trail, store = MemoryAuditTrail(), Store([a_row()])
        short = Justification(Purpose.STOLEN_VEHICLE, "26-001234", "a hunch")
        with pytest.raises(AccessDenied, match=f"at least {MIN_FACTUAL_BASIS} characters"):
            find(store, trail, short)
        assert store.asked == []
        assert [(e.outcome, e.action, e.target_id) for e in trail.events] == [
            (AuditOutcome.DENIED, AuditAction.ACCESS_DENIED, "plate=ABC123")
        ]

    def test_a_refusal_is_still_refused_when_its_audit_fails(self) -> None:
        with pytest.raises(AccessDenied):
            open_person_access(Unacknowledged(0), WHO, target_kind="t", target_id="i", why=None)

    def test_search_is_audited_before_the_store_is_read_and_its_ids_after(self) -> None:
        trail, store = MemoryAuditTrail(), Store([a_row(), a_row(), a_row(agency="MN9990777")])
        found = find(store, trail)
        assert len(found) == 2 and store.asked == ["ABC123"]  # MN9990777 shares nothing
        opened, shown = trail.events
        assert (opened.details["stage"], shown.details["ids"]) == (
            "opened", ",".join(r.read_id for r in found),
        )  # fmt: skip
        for event in trail.events:
            assert (event.actor, event.actor_agency_ori, event.purpose) == (
                "j.doe", "MN9990001", "stolen_vehicle",
            )  # fmt: skip
            assert event.details["case_number"] == "26-001234"
        assert all(e.outcome is AuditOutcome.SUCCESS for e in trail.events)

    def test_nothing_is_read_when_the_access_is_not_acknowledged(self) -> None:
        store = Store([a_row()])
        with pytest.raises(TransientError, match="so nothing is shown"):
            find(store, Unacknowledged(0))
        assert store.asked == []

    def test_nothing_is_returned_when_the_results_are_not_acknowledged(self) -> None:
        trail = Unacknowledged(1)
        with pytest.raises(TransientError, match="so nothing is shown"):
            find(Store([a_row()]), trail)
        assert len(trail.events) == 1

    def test_the_audit_day_is_utc(self) -> None:
        assert utc_day() == datetime.now(UTC).strftime("%Y-%m-%d")


class TestTopicLookups:
    def test_dead_letters_are_read_only_after_the_access_is_audited(self) -> None:
        letter = dead_letter(
            stage="normalize", error=ValueError("bad"), now=datetime.now(UTC), worker="w",
            topic="unit.reads.raw", partition=0, offset=7, value=b"raw",
        )  # fmt: skip
        topic = Topic([letter.encode(CODEC)])
        found = dead_letters(
            SETTINGS, MemoryAuditTrail(), WHO, max_messages=10, timeout_s=1, read=topic
        )
        assert [(d.stage, d.source_offset) for d in found] == [("normalize", 7)]
        with pytest.raises(TransientError):
            dead_letters(SETTINGS, Unacknowledged(0), WHO, max_messages=10, timeout_s=1, read=topic)
        assert topic.read_topics == ["unit.deadletter"]


class Finder:
    def __init__(self, location: HitLocation | None) -> None:
        self.location = location

    def find_hit(self, hit_id: str) -> HitLocation | None:
        return self.location if self.location and self.location.hit_id == hit_id else None


class TestDispositions:
    def test_a_stored_hit_is_found_by_id_and_its_disposition_sent(self) -> None:
        matched = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        sent: list[HitDisposition] = []
        record = dispose_hit(
            SETTINGS, Finder(HitLocation("hit-1", "MN9990001", matched)), hit_id="hit-1",
            agency="MN9990002", user="officer.k", disposition=Disposition.CORRECT,
            note="towed", send=sent.append,
        )  # fmt: skip
        assert sent == [record]
        assert (record.hit_agency_ori, record.matched_at, record.decided_by_agency_ori) == (
            "MN9990001", matched, "MN9990002",
        )  # fmt: skip
        assert (record.decided_by, record.disposition, record.note) == (
            "officer.k", Disposition.CORRECT, "towed",
        )  # fmt: skip

    def test_a_hit_the_store_no_longer_holds_is_refused(self) -> None:
        sent: list[HitDisposition] = []
        with pytest.raises(NotFound, match="hit gone-1 is not held in the store"):
            dispose_hit(
                SETTINGS, Finder(None), hit_id="gone-1", agency="MN9990002", user="u",
                disposition=Disposition.DISMISSED, send=sent.append,
            )  # fmt: skip
        assert sent == []


class TestLoadersAndAgreements:
    def test_categories_by_name_in_any_case(self) -> None:
        assert parse_categories(["stolen_vehicle", " AMBER_ALERT", ""]) == (
            HotlistCategory.STOLEN_VEHICLE, HotlistCategory.AMBER_ALERT,
        )  # fmt: skip
        with pytest.raises(RequestRefused, match="known: STOLEN_VEHICLE"):
            parse_categories(["stolen"])

    def test_hotlist_file_formats_and_the_load_audit(self, tmp_path: Path) -> None:
        source = HotlistSource("mn-stolen", "MN BCA", "MN9990100", HotlistCategory.STOLEN_VEHICLE)
        path = tmp_path / "list.csv"
        path.write_text("plate,state\nABC123,MN\n,MN\n")
        report = parse_hotlist(path, source, HotlistFormat.LPRX)
        assert [e.plate for e in report.entries] == ["ABC123"] and len(report.errors) == 1
        load = HotlistLoad("mn-stolen", "1 loaded", report.errors)
        event = load_audit("j.doe", source, path, HotlistFormat.LPRX, load)
        assert (event.actor, event.actor_agency_ori, event.action, event.target_id) == (
            "j.doe", "MN9990100", AuditAction.HOTLIST_LOAD, "mn-stolen",
        )  # fmt: skip
        assert event.details == {
            "file": "list.csv", "format": "lprx", "result": "1 loaded", "refused_rows": "1",
            "excluded_by_policy": "0", "source": "MN BCA",
        }  # fmt: skip


def test_audit_events_are_keyed_by_the_acting_agency() -> None:
    from schemas.keys import audit_key

    event = AuditEvent("e1", datetime.now(UTC), "u", AuditAction.SEARCH, "t", "i",
                       actor_agency_ori="MN9990100")  # fmt: skip
    assert audit_key(event) == b"MN9990100"
