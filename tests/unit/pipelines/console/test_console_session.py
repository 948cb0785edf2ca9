"""The console's session ends with the API's: idle past the limit, its pages go back to
the login page (on an injected clock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient

from connectors.kafka.audit import MemoryAuditTrail
from pipelines.api.app import create_api_app
from pipelines.api.deps import ApiServices
from pipelines.identity.accounts import IdentityService, TotpSealer
from pipelines.identity.auth import Authenticator
from pipelines.identity.memory import MemoryAccounts
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook
from schemas.people import Role
from tests.unit.pipelines.api.harness import NOW, PASSWORD, C, MemoryStore
from tests.unit.pipelines.console.forms import hidden


def test_an_idle_session_ends_and_its_pages_go_back_to_the_login(tmp_path: Path) -> None:
    now = [NOW]
    accounts = MemoryAccounts()
    settings = Settings(cache_dir=tmp_path)
    identity = IdentityService(
        accounts, TotpSealer(tmp_path / "totp.key"), settings, clock=lambda: now[0]
    )
    services = ApiServices(
        settings,
        Authenticator(identity, clock=lambda: now[0]),
        MemoryAuditTrail(),
        AgreementBook(),
        MemoryStore(),
    )
    client = TestClient(
        create_api_app(services), base_url="https://testserver", follow_redirects=False
    )
    new = identity.add_person("idle.c", C, frozenset({Role.INVESTIGATOR}), PASSWORD, "test")
    totp = pyotp.parse_uri(new.totp_uri)
    assert isinstance(totp, pyotp.TOTP)
    form = client.get("/console/login").text
    answer = client.post(
        "/console/login",
        data={
            "csrf": hidden(form, "csrf"),
            "username": "idle.c",
            "password": PASSWORD,
            "code": totp.at(now[0]),
        },
    )
    assert answer.status_code == 303
    now[0] += timedelta(minutes=29)
    assert client.get("/console/search").status_code == 200
    now[0] += timedelta(minutes=31)
    expired = client.get("/console/search")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/console/login")
