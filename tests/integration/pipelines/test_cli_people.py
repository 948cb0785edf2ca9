"""`lprx people reset` and `lprx password` through the API, on the real Cassandra: the
one-time credentials shown once, the person's sessions ended, the session of the
one-time password good for changing it only, the reset audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from connectors.cassandra import CassandraStore
from connectors.kafka.reader import read_values
from pipelines.cli import common
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.people import Role
from schemas.records import AuditEvent
from tests.conftest import wait_for
from tests.integration.pipelines.served import Cli, invoke, person, served_api

AGENCY = "MN9990031"


@pytest.fixture
def cli_settings(kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(common, "settings", lambda: kafka_settings)
    return kafka_settings


@pytest.fixture
def cli(cli_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    with CassandraStore(cli_settings) as store, served_api(cli_settings) as url:
        yield Cli(url, tmp_path, monkeypatch)
        store.session.execute(f"DROP KEYSPACE IF EXISTS {cli_settings.cassandra_keyspace}")


def test_a_reset_shows_one_time_credentials_once_and_ends_the_persons_sessions(
    cli_settings: Settings, cli: Cli, tmp_path: Path
) -> None:
    person_totp = person(cli_settings, "inv.reset", AGENCY, Role.INVESTIGATOR)
    admin_totp = person(cli_settings, "admin.reset", AGENCY, Role.AGENCY_ADMIN)
    cli.login("inv.reset", person_totp)
    old_session = (cli.home / "lprx" / "session.json").read_text()
    before = cli("partner", "hits")
    assert before.exit_code == 0, before.output

    cli.login("admin.reset", admin_totp)
    result = cli("people", "reset", "inv.reset")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    password, uri = lines["one-time password"], lines["TOTP enrolment URI"]
    assert "every session ended" in result.output

    # The session the person had is over (the CLI sends its saved token).
    (cli.home / "lprx" / "session.json").write_text(old_session)
    ended = cli("partner", "hits")
    assert ended.exit_code == 1 and "reset of the credentials" in ended.output, ended.output

    # The one-time password and the new factor log in; the person sets their own.
    cli.password_file.write_text(password)
    new_totp = pyotp.parse_uri(uri)
    assert isinstance(new_totp, pyotp.TOTP)
    login = invoke("login", "--username", "inv.reset", "--password-file",
                   str(cli.password_file), "--code", new_totp.now(), "--url", cli.url)  # fmt: skip
    assert login.exit_code == 0 and "change it now" in login.output, login.output
    # Until the person sets their own password, the session does nothing else (CJIS IA-5).
    due = cli("partner", "hits")
    assert due.exit_code == 1 and "must be changed before anything else" in due.output, due.output
    new_password = tmp_path / "new"
    new_password.write_text("my own password 12")
    changed = cli("password", "--current-file", str(cli.password_file),
                  "--new-file", str(new_password))  # fmt: skip
    assert changed.exit_code == 0 and "password changed" in changed.output, changed.output
    assert "other sessions" in changed.output  # they end; this one goes on (below)
    after = cli("partner", "hits")
    assert after.exit_code == 0, after.output

    events = wait_for(
        lambda: [
            e for v in read_values(cli_settings, cli_settings.topic("audit"), 1000, 5)
            if (e := AuditEvent.decode(SingleObjectCodec(), v)).target_id == "inv.reset"
            and e.details.get("change", "").startswith("password")
        ] or None, 30, "the reset's audit events",
    )  # fmt: skip
    assert [(e.actor, e.details["change"]) for e in events] == [
        ("admin.reset", "password and second factor reset; sessions ended"),
        ("inv.reset", "password changed"),
    ]
    assert password not in str(events)
