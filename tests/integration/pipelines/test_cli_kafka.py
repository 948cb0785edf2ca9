"""The audit trail, the topic reader and the CLI commands that write to Kafka, on the
real Kafka (and Cassandra for dispositions)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.cassandra import CassandraStore
from connectors.kafka import acls
from connectors.kafka.audit import AuditTrail
from connectors.kafka.reader import read_topic, read_values
from connectors.kafka.topics import TopicSpec, admin_client, ensure_topics, make_producer
from pipelines.cli import common
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.errors import TransientError
from schemas.people import Role
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    HitDisposition,
    HotlistEntry,
    SharingAgreement,
    new_id,
    utcnow,
)
from tests.conftest import unique_settings, wait_for
from tests.factories import a_hit, a_read
from tests.integration.pipelines.served import Cli, person, served_api

CODEC = SingleObjectCodec()
OWNER, PARTNER = "MN9990001", "MN9990002"


@pytest.fixture
def cli_settings(kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(common, "settings", lambda: kafka_settings)
    return kafka_settings


def an_event(agency: str) -> AuditEvent:
    return AuditEvent(new_id(), utcnow(), "j.doe", AuditAction.SEARCH, "reads", "plate=X",
                      actor_agency_ori=agency, purpose="case 26-001234")  # fmt: skip


def messages(settings: Settings, name: str, want: int) -> list[Any]:
    """The topic's messages once it holds at least ``want``."""
    topic = settings.topic(name)

    def read() -> list[Any] | None:
        found = read_topic(settings, topic, max_messages=1000, timeout_s=10)
        return found if len(found) >= want else None

    return wait_for(read, 30, f"{want} messages on {topic}")


def test_the_audit_trail_writes_acknowledged_events_keyed_by_agency(
    kafka_settings: Settings,
) -> None:
    trail = AuditTrail(kafka_settings, "test-audit")
    first, second = an_event(OWNER), an_event(PARTNER)
    trail.record_acknowledged(first, timeout=10)
    trail.record(second)
    assert trail.flush(10) == 0 and trail.failed == 0
    found = messages(kafka_settings, "audit", 2)
    assert [(m.key(), AuditEvent.decode(CODEC, m.value()).event_id) for m in found] == [
        (OWNER.encode(), first.event_id), (PARTNER.encode(), second.event_id),
    ]  # fmt: skip


def test_an_event_kafka_does_not_acknowledge_raises(servers: Settings) -> None:
    settings = unique_settings(servers)  # no topics: the audit topic does not exist
    started = time.monotonic()
    with pytest.raises(TransientError, match="did not acknowledge"):
        AuditTrail(settings, "test-audit").record_acknowledged(an_event(OWNER), timeout=2)
    assert time.monotonic() - started < 10


def test_the_reader_stops_at_the_end_of_every_partition(servers: Settings) -> None:
    settings = unique_settings(servers)
    topic = settings.topic("spread")
    ensure_topics(settings, [TopicSpec(topic, 3), TopicSpec(settings.topic("empty"), 2)])
    producer = make_producer(settings, "test-reader")
    for partition in (0, 2):  # partition 1 stays empty
        producer.produce(topic, key=b"k", value=f"v{partition}".encode(), partition=partition)
    producer.produce(topic, key=b"gone", value=None, partition=0)  # a tombstone
    assert producer.flush(10) == 0
    started = time.monotonic()
    assert sorted(read_values(settings, topic, 100, 30)) == [b"v0", b"v2"]
    assert len(read_topic(settings, topic, max_messages=100, timeout_s=30)) == 3
    assert read_values(settings, settings.topic("empty"), 100, 30) == []
    assert read_values(settings, settings.topic("missing"), 100, 30) == []
    assert time.monotonic() - started < 25, "read to the end, not to the timeout"
    assert len(read_topic(settings, topic, max_messages=2, timeout_s=30)) == 2


@pytest.fixture
def store(cli_settings: Settings) -> Iterator[CassandraStore]:
    with CassandraStore(cli_settings) as store:
        yield store
        store.session.execute(f"DROP KEYSPACE IF EXISTS {cli_settings.cassandra_keyspace}")


@pytest.fixture
def cli(
    cli_settings: Settings, store: CassandraStore, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:  # fmt: skip
    with served_api(cli_settings) as url:
        yield Cli(url, tmp_path, monkeypatch)


def changes(settings: Settings, action: AuditAction, want: int) -> list[Any]:
    """The audit topic's messages of ``action``, once there are ``want``."""

    def read() -> list[Any] | None:
        found = [m for m in read_topic(settings, settings.topic("audit"), max_messages=1000,
                                       timeout_s=10)
                 if AuditEvent.decode(CODEC, m.value()).action is action]  # fmt: skip
        return found if len(found) >= want else None

    return wait_for(read, 30, f"{want} {action} audit events")


def test_partner_dispose_finds_the_stored_hit_by_id(
    cli_settings: Settings, store: CassandraStore, cli: Cli
) -> None:
    now = utcnow()
    matched = now.replace(microsecond=now.microsecond // 1000 * 1000)  # Cassandra keeps ms
    hit = a_hit(read=a_read(agency_ori=OWNER, collected_at=now), matched_at=matched)
    assert all(o.ok for o in store.write_hits([hit], now))
    cli.login("officer.k", person(cli_settings, "officer.k", PARTNER, Role.INVESTIGATOR))
    result = cli("partner", "dispose", hit.hit_id, "CORRECT", "--note", "towed")
    assert result.exit_code == 0, result.output
    assert f"hit {hit.hit_id}: CORRECT recorded" in result.output
    (message,) = messages(cli_settings, "dispositions", 1)
    record = HitDisposition.decode(CODEC, message.value())
    assert message.key() == hit.hit_id.encode()
    assert (record.hit_id, record.hit_agency_ori, record.matched_at) == (hit.hit_id, OWNER, matched)
    assert (record.decided_by, record.decided_by_agency_ori, record.note) == (
        "officer.k", PARTNER, "towed",
    )  # fmt: skip


def test_partner_dispose_refuses_a_hit_the_store_does_not_hold(
    cli_settings: Settings, store: CassandraStore, cli: Cli
) -> None:
    cli.login("officer.j", person(cli_settings, "officer.j", PARTNER, Role.INVESTIGATOR))
    result = cli("partner", "dispose", "no-such-hit", "DISMISSED")
    assert result.exit_code == 1
    assert "hit no-such-hit is not held in the store" in result.output
    # The command sends before it returns: had it sent anything, it would be there now.
    assert read_values(cli_settings, cli_settings.topic("dispositions"), 10, 10) == []


def test_hotlist_load_publishes_the_entries_and_audits_the_load(
    cli_settings: Settings, tmp_path: Path, cli: Cli
) -> None:
    path = tmp_path / "list.csv"
    path.write_text("plate,state\nLOD123,MN\nLOD456,\n,MN\n")
    cli.login("admin.h", person(cli_settings, "admin.h", OWNER, Role.AGENCY_ADMIN))
    refused = cli("hotlist", "load", str(path), "--list-id", "mn-test", "--source", "Acme",
                  "--source-kind", "commercial")  # fmt: skip
    assert refused.exit_code == 1 and "13.824 subd. 2(c)" in refused.output
    result = cli("hotlist", "load", str(path), "--list-id", "mn-test", "--source", "NCIC",
                 "--source-kind", "ncic", "--ncic-file", "vehicle")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "hotlist mn-test: 2 loaded; 1 rows refused" in result.output
    entries = [HotlistEntry.decode(CODEC, m.value()) for m in messages(cli_settings, "hotlist", 2)]
    assert sorted(e.plate for e in entries) == ["LOD123", "LOD456"]
    assert {e.owning_agency_ori for e in entries} == {OWNER}  # the admin's own agency
    assert {(e.source_kind, e.ncic_file) for e in entries} == {("ncic", "vehicle")}
    denied, audit = changes(cli_settings, AuditAction.HOTLIST_LOAD, 2)
    assert AuditEvent.decode(CODEC, denied.value()).outcome is AuditOutcome.DENIED
    event = AuditEvent.decode(CODEC, audit.value())
    assert audit.key() == OWNER.encode()
    assert (event.actor, event.action, event.target_id, event.details["result"]) == (
        "admin.h", AuditAction.HOTLIST_LOAD, "mn-test", "2 loaded",
    )  # fmt: skip


def test_agreement_changes_are_audited_by_the_owner(cli_settings: Settings, cli: Cli) -> None:
    """A new partner waits for a second approver of the owner; then it is in force, the
    policy says who approved it, and a revocation ends it at once."""
    cli.login("chief.olson", person(cli_settings, "chief.olson", OWNER, Role.AGENCY_ADMIN))
    result = cli("agreements", "add", "--partner", PARTNER, "--categories",
                 "stolen_vehicle,amber_alert", "--share-reads", "--legal-basis", "JPA 2026-04")  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"agreement {OWNER}->{PARTNER}: STOLEN_VEHICLE, AMBER_ALERT; reads shared" in said
    assert f"pending: it widens (a new partner, {PARTNER})" in said
    assert cli("agreements", "approve", "--partner", PARTNER).exit_code == 1  # not by its proposer
    cli.login("sgt.berg", person(cli_settings, "sgt.berg", OWNER, Role.SUPERVISOR))
    result = cli("agreements", "approve", "--partner", PARTNER)
    assert result.exit_code == 0, result.output
    approved = " ".join(result.output.split())
    assert "approved by sgt.berg (proposed by chief.olson)" in approved
    # Only the agreement is recorded: the partner's user, ACLs and topic are the operator's.
    assert f"lprx partners add {PARTNER}" in approved
    admin = admin_client(cli_settings)
    assert cli_settings.partner_hits_topic(PARTNER) not in admin.list_topics(timeout=10).topics
    prefix = cli_settings.topic_prefix
    assert not [b for b in acls.acls_of(admin, acls.partner_principal(PARTNER)) if prefix in b.name]
    policy = " ".join(cli("agreements", "policy").output.split())
    assert (f"{OWNER} shares with: {PARTNER}: hits of STOLEN_VEHICLE, AMBER_ALERT and searches "
            "of the reads; since ") in policy  # fmt: skip
    assert "under JPA 2026-04, approved by sgt.berg (proposed by chief.olson)" in policy
    cli.login("chief.olson2", person(cli_settings, "chief.olson2", OWNER, Role.AGENCY_ADMIN))
    result = cli("agreements", "revoke", "--partner", PARTNER)
    assert result.exit_code == 0 and f"agreement {OWNER}->{PARTNER} revoked" in result.output
    records = messages(cli_settings, "agreements", 5)
    keys = [m.key().decode() for m in records]
    key = f"{OWNER}->{PARTNER}"
    assert keys == [f"{key}#pending", key, f"{key}#pending", key, f"{key}#pending"]
    agreement = SharingAgreement.decode(CODEC, records[1].value())
    assert (agreement.partner_agency_ori, agreement.share_reads, agreement.approved_by,
            agreement.proposed_by) == (PARTNER, True, "sgt.berg", "chief.olson")  # fmt: skip
    assert [m.value() is None for m in records[2:]] == [True, True, True]
    audits = changes(cli_settings, AuditAction.AGREEMENT_CHANGE, 4)
    assert {m.key() for m in audits} == {OWNER.encode()}
    events = [AuditEvent.decode(CODEC, m.value()) for m in audits]
    assert [(e.actor, e.outcome.value) for e in events] == [
        ("chief.olson", "SUCCESS"), ("chief.olson", "DENIED"), ("sgt.berg", "SUCCESS"),
        ("chief.olson2", "SUCCESS"),
    ]  # fmt: skip
    assert events[0].details["change"] == (
        "proposed hits STOLEN_VEHICLE,AMBER_ALERT, reads yes under JPA 2026-04; widens (a new "
        f"partner, {PARTNER}), so it waits for a second approver"
    )
    assert events[2].details["change"].startswith("approved the widening proposed by chief.olson")
    assert events[3].details["change"] == "revoked"
    refused = cli("agreements", "add", "--partner", PARTNER, "--categories", "stolen",
                  "--legal-basis", "xyz")  # fmt: skip
    assert refused.exit_code == 1 and "known: STOLEN_VEHICLE" in refused.output
    # An investigator cannot change agreements.
    cli.login("inv.z", person(cli_settings, "inv.z", OWNER, Role.INVESTIGATOR))
    denied = cli("agreements", "revoke", "--partner", PARTNER)
    assert denied.exit_code == 1 and "403" in denied.output
