"""Resetting a person's credentials: who may, what it gives (once), what it ends."""

from __future__ import annotations

import logging
from typing import Any

import pyotp
import pytest

from schemas.people import Role
from schemas.records import AuditOutcome
from tests.unit.pipelines.api.harness import PASSWORD, A, Api, C, bearer


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    api = Api(tmp_path_factory.mktemp("reset"))
    for username, agency, role in (
        ("inv.c", C, Role.INVESTIGATOR), ("admin.c", C, Role.AGENCY_ADMIN),
        ("inv.a", A, Role.INVESTIGATOR), ("admin.a", A, Role.AGENCY_ADMIN),
        ("op", "MN0000000", Role.OPERATOR),
    ):  # fmt: skip
        api.person(username, agency, role)
    return api


def reset(api: Api, who: str, whom: str) -> Any:
    return api.client.post(f"/v1/people/{whom}/reset", headers=bearer(api.login(who)))


def test_an_admin_resets_a_person_of_its_agency_once_and_their_sessions_end(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    session = api.login("inv.c")
    assert api.client.get("/v1/me", headers=bearer(session)).status_code == 200
    with caplog.at_level(logging.DEBUG):
        answer = api.client.post("/v1/people/inv.c/reset", headers=bearer(api.login("admin.c")))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sessions_ended"] and body["totp_uri"].startswith("otpauth://")
    assert body["password"] not in caplog.text and body["totp_uri"] not in caplog.text
    # The session begun before the reset is over; the old password and factor are too.
    assert api.client.get("/v1/me", headers=bearer(session)).status_code == 401
    old = api.client.post("/v1/login", json={"username": "inv.c", "password": PASSWORD,
                                             "code": api.totp["inv.c"].now()})  # fmt: skip
    assert old.status_code == 401
    # The new ones log in; the person then sets a password of their own.
    totp = pyotp.parse_uri(body["totp_uri"])
    assert isinstance(totp, pyotp.TOTP)
    new = api.client.post("/v1/login", json={"username": "inv.c", "password": body["password"],
                                             "code": totp.now()})  # fmt: skip
    assert new.status_code == 200, new.text
    mine = bearer(new.json()["token"])
    changed = api.client.post("/v1/me/password", headers=mine, json={
        "current_password": body["password"], "new_password": "my own new password 1",
    })  # fmt: skip
    assert changed.status_code == 200, changed.text
    wrong = api.client.post("/v1/me/password", headers=mine, json={
        "current_password": body["password"], "new_password": "another password 22",
    })  # fmt: skip
    assert wrong.status_code == 403  # the one-time password is spent
    account = api.accounts.account("inv.c")
    assert account is not None and body["password"] not in account.password_hash
    event = next(e for e in reversed(api.trail.events) if e.target_id == "inv.c"
                 and "reset" in e.details.get("change", ""))  # fmt: skip
    assert (event.actor, event.outcome) == ("admin.c", AuditOutcome.SUCCESS)
    assert body["password"] not in str(api.trail.events)


@pytest.mark.parametrize(
    ("who", "whom", "allowed"),
    [
        ("admin.c", "inv.a", False),  # another agency's person
        ("admin.c", "admin.a", False),  # an administrator: the operator's
        ("admin.c", "admin.c", False),  # nobody resets themselves
        ("inv.c", "inv.c", False),
        ("inv.a", "inv.c", False),  # not an administrator
        ("op", "inv.c", False),  # the agency's own administrator does
        ("op", "admin.a", True),
    ],
)
def test_who_may_reset_whom(api: Api, who: str, whom: str, allowed: bool) -> None:
    answer = reset(api, who, whom)
    assert (answer.status_code == 200) is allowed, answer.text
    if not allowed:
        assert answer.status_code == 403
        assert api.trail.events[-1].outcome is AuditOutcome.DENIED
        # Nothing changed: the old password and factor still log in.
        api.login(whom)


def test_an_unknown_person_is_not_found(api: Api) -> None:
    assert reset(api, "admin.c", "nobody").status_code == 404
