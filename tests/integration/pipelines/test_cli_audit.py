"""Audited access through the CLI, logged in as a person, on the real Kafka and
Cassandra: no audit, no data; a refused search is audited as refused.

Every look-up's audit event goes to the audit topic, and nothing is shown until Kafka
has acknowledged it; a store worker copies the topic to Cassandra, where `lprx audit`
reads the trail of the auditor's agency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.cassandra import CassandraStore
from connectors.kafka.reader import read_values
from pipelines.cli import common
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.people import Role
from schemas.records import AuditAction, AuditEvent, AuditOutcome, utcnow
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.factories import a_read
from tests.integration.pipelines.served import Cli, person, served_api

CODEC = SingleObjectCodec()
AGENCY = "MN9990001"
CASE = ["--purpose", "stolen_vehicle", "--case", "26-001234",
        "--basis", "Reported stolen overnight; owner statement on file."]  # fmt: skip


@pytest.fixture(scope="module")
def settings(servers: Settings) -> Iterator[Settings]:
    """This module's own topics, users, ACLs and keyspace."""
    settings = provision(unique_settings(servers, topic_partitions=1))
    yield settings
    with CassandraStore(settings, create_schema=False) as store:
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


@pytest.fixture(scope="module")
def url(settings: Settings) -> Iterator[str]:
    with served_api(settings) as url:
        yield url


@pytest.fixture
def store(settings: Settings) -> Iterator[CassandraStore]:
    with CassandraStore(settings, create_schema=False) as store:
        yield store


@pytest.fixture
def cli(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Cli:
    monkeypatch.setattr(common, "settings", lambda: settings)
    return Cli(url, tmp_path, monkeypatch)


def audit_topic(
    settings: Settings, want: Callable[[AuditEvent], bool], count: int = 1
) -> list[AuditEvent]:
    """The audit topic's events that ``want``, once there are ``count`` of them."""

    def events() -> list[AuditEvent] | None:
        values = read_values(settings, settings.topic("audit"), 1000, 10)
        found = [e for e in (AuditEvent.decode(CODEC, v) for v in values) if want(e)]
        return found if len(found) >= count else None

    return wait_for(events, 30, f"{count} audit events")


def test_a_search_without_its_factual_basis_is_refused_and_audited(
    settings: Settings, store: CassandraStore, cli: Cli
) -> None:
    now = utcnow()
    store.write_reads([a_read(plate="AUD123", collected_at=now, agency_ori=AGENCY)], now)
    cli.login("inv.one", person(settings, "inv.one", AGENCY, Role.INVESTIGATOR))
    result = cli("reads", "search", "AUD123", "--purpose", "stolen_vehicle", "--case",
                 "26-001234", "--basis", "hunch")  # fmt: skip
    assert result.exit_code == 1 and "factual basis" in result.output
    assert "AUD123" not in result.output
    (event,) = audit_topic(settings, lambda e: e.actor == "inv.one" and e.target_kind == "reads")
    assert (event.actor_agency_ori, event.outcome, event.action) == (
        AGENCY, AuditOutcome.DENIED, AuditAction.ACCESS_DENIED,
    )  # fmt: skip


def test_a_search_shows_reads_and_is_audited_with_its_justification(
    settings: Settings, store: CassandraStore, cli: Cli
) -> None:
    now = utcnow()
    read = a_read(plate="AUD456", collected_at=now, agency_ori=AGENCY)
    store.write_reads([read], now)
    cli.login("inv.two", person(settings, "inv.two", AGENCY, Role.INVESTIGATOR))
    result = cli("reads", "search", "aud-456", *CASE)
    assert result.exit_code == 0, result.output
    assert "AUD456" in result.output and "1 reads" in result.output
    opened, shown = audit_topic(settings, lambda e: e.actor == "inv.two"
                                and e.action is AuditAction.SEARCH, 2)  # fmt: skip
    assert opened.details["stage"] == "opened" and shown.details["ids"] == read.read_id
    for event in (opened, shown):
        assert (event.purpose, event.details["case_number"]) == ("stolen_vehicle", "26-001234")
        assert "AUD456" in event.details["query"] or "aud-456" in event.details["query"]


def test_no_free_strings_remain() -> None:
    from typer.testing import CliRunner

    from pipelines import cli

    for command in (["reads", "search"], ["audit", "show"], ["partner", "hits"], ["hotlist", "load"],
                    ["agreements", "add"], ["agreements", "revoke"], ["deadletters"]):  # fmt: skip
        help_text = CliRunner().invoke(cli.app, [*command, "--help"]).output
        for option in ("--user", "--actor", "--approved-by", "--owner "):
            assert option not in help_text, (command, option)
    for command in (["holds", "place"], ["holds", "preserve"], ["holds", "list"],
                    ["holds", "due"], ["holds", "review"], ["holds", "release"],
                    ["audit", "verify"], ["audit", "checkpoint"]):  # fmt: skip
        help_text = CliRunner().invoke(cli.app, [*command, "--help"]).output
        assert "Usage" in help_text, command
        for option in ("--user", "--agency", "--user-agency", "--purpose", "--actor"):
            assert option not in help_text, (command, option)


def test_the_store_worker_keeps_the_trail_and_reading_it_is_audited(
    settings: Settings,
    store: CassandraStore,
    cli: Cli,
    spawn: Callable[[list[str], dict[str, str]], Process],
) -> None:
    worker = spawn(
        ["worker", "--stages", "store", "--metrics-port", str(free_port())], settings_env(settings)
    )
    cli.login("inv.three", person(settings, "inv.three", AGENCY, Role.INVESTIGATOR))
    result = cli("reads", "search", "AUD789", *CASE)
    assert result.exit_code == 0, result.output
    day = datetime.now(UTC).strftime("%Y-%m-%d")

    def stored(want: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]] | None:
        assert worker.alive(), worker.output()
        rows = [r for r in store.audit_events(day, 1000) if want(r)]
        return rows or None

    wait_for(lambda: stored(lambda r: r["actor"] == "inv.three"), 180,
             "the search's audit events in Cassandra")  # fmt: skip
    # An investigator may not read the audit trail; the auditor of the agency may.
    assert cli("audit", "show").exit_code == 1
    cli.login("aud.k", person(settings, "aud.k", AGENCY, Role.AUDITOR))
    result = cli("audit", "show", "--limit", "1000")
    assert result.exit_code == 0, result.output
    assert "inv.three" in result.output and "reads:plate=AUD789" in result.output
    rows = wait_for(lambda: stored(lambda r: r["actor"] == "aud.k" and r["target_kind"] == "audit"),
                    60, "the audit look-up's own events in Cassandra")  # fmt: skip
    assert rows


def test_people_bootstrap_makes_an_operator_who_can_log_in_but_not_search(
    settings: Settings, cli: Cli, tmp_path: Path
) -> None:
    import pyotp

    totp_file = tmp_path / "op.totp"
    result = cli("people", "bootstrap", "--username", "op.boot", "--password-file",
                 str(cli.password_file), "--totp-file", str(totp_file))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "otpauth" not in result.output and totp_file.stat().st_mode & 0o077 == 0
    again = cli("people", "bootstrap", "--username", "op.boot", "--password-file",
                str(cli.password_file), "--totp-file", str(totp_file))  # fmt: skip
    assert again.exit_code == 1 and "exists" in again.output
    totp = pyotp.parse_uri(totp_file.read_text().strip())
    assert isinstance(totp, pyotp.TOTP)
    cli.login("op.boot", totp)
    assert "op.boot" in cli("people", "list").output
    refused = cli("reads", "search", "AUD123", *CASE)
    assert refused.exit_code == 1 and "403" in refused.output


def test_a_bootstrap_with_a_generated_password_is_changed_at_first_login(
    settings: Settings, cli: Cli, tmp_path: Path
) -> None:
    import pyotp

    secret_file = tmp_path / "op.gen"
    result = cli("people", "bootstrap", "--username", "op.gen", "--generate-password",
                 "--totp-file", str(secret_file))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "one-time password" in result.output and secret_file.stat().st_mode & 0o077 == 0
    lines = dict(line.split(": ", 1) for line in secret_file.read_text().splitlines())
    assert lines["one-time password"] not in result.output
    totp = pyotp.parse_uri(lines["TOTP enrolment URI"])
    assert isinstance(totp, pyotp.TOTP)
    cli.password_file.write_text(lines["one-time password"])
    cli.login("op.gen", totp)
    due = cli("people", "list")
    assert due.exit_code == 1 and "must be changed before anything else" in due.output
    own = tmp_path / "own"
    own.write_text("the operator's own password")
    changed = cli("password", "--current-file", str(cli.password_file), "--new-file", str(own))
    assert changed.exit_code == 0, changed.output
    assert "op.gen" in cli("people", "list").output
