"""The API served over HTTPS in a thread, people made in its store, and the CLI logged in
as one of them: what the CLI tests use to act as a person."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
import uvicorn
from typer.testing import CliRunner

from pipelines import cli
from pipelines.access import Role as ProcessRole
from pipelines.access import as_role
from pipelines.api.app import create_api_app
from pipelines.api.wiring import identity_service, running_services, tls_files
from pipelines.settings import Settings
from schemas.people import Role
from tests.conftest import free_port, wait_for

PASSWORD = "cli test password 1"


def api_settings(settings: Settings) -> Settings:
    unnamed = settings.model_copy(update={"kafka_principal": None, "cassandra_username": None})
    return as_role(unnamed, ProcessRole.API)


@contextmanager
def served_api(settings: Settings) -> Iterator[str]:
    """``lprx api``'s app on these settings' topics and keyspace; yields its URL."""
    port = free_port()
    served = api_settings(settings).model_copy(update={"api_port": port})
    with running_services(served) as services:
        config = uvicorn.Config(create_api_app(services), host="127.0.0.1", port=port,
                                log_level="warning", ssl_certfile=str(tls_files(served)[0]))  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"https://127.0.0.1:{port}"
        ca = str(settings.default_ca_file)

        def up() -> bool:
            try:
                return httpx.get(f"{url}/health", verify=ca, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, "the API")
        try:
            yield url
        finally:
            server.should_exit = True
            thread.join(10)


def person(settings: Settings, username: str, agency: str, *roles: Role) -> pyotp.TOTP:
    """A person in the store (as an administrator would add them); their TOTP."""
    with identity_service(settings) as (_store, identity):
        new = identity.add_person(username, agency, frozenset(roles), PASSWORD, "test")
    totp = pyotp.parse_uri(new.totp_uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


class Cli:
    """The CLI, logged in as one person at a time (its session file under a tmp home)."""

    def __init__(self, url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = url
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
        self.password_file = home / "password"
        self.password_file.write_text(PASSWORD)

    def login(self, username: str, totp: pyotp.TOTP) -> None:
        result = invoke("login", "--username", username, "--password-file",
                        str(self.password_file), "--code", totp.now(), "--url", self.url)  # fmt: skip
        assert result.exit_code == 0, result.output
        session = self.home / "lprx" / "session.json"
        assert session.stat().st_mode & 0o077 == 0

    def __call__(self, *args: str) -> Any:
        return invoke(*args)
