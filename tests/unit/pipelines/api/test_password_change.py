"""A password someone else set (an administrator's, a reset's one-time password) must be
changed at first use (CJIS IA-5): until then the session may change it and log out,
and every other route answers 403, audited as a refusal."""

from __future__ import annotations

from dataclasses import replace

import pyotp
import pytest

from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome
from tests.unit.pipelines.api.harness import PASSWORD, Api, C, bearer

OWN_PASSWORD = "a password of my own choosing"


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    api = Api(tmp_path_factory.mktemp("password"))
    api.person("admin.c", C, Role.AGENCY_ADMIN)
    return api


def added_by_admin(api: Api, username: str) -> pyotp.TOTP:
    answer = api.client.post(
        "/v1/people",
        headers=bearer(api.login("admin.c")),
        json={"username": username, "roles": ["investigator"], "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    totp = pyotp.parse_uri(answer.json()["totp_uri"])
    assert isinstance(totp, pyotp.TOTP)
    api.totp[username] = totp
    return totp


def first_login(api: Api, username: str, password: str = PASSWORD) -> dict[str, object]:
    answer = api.client.post("/v1/login", json={
        "username": username, "password": password, "code": api.totp[username].now(),
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_person_added_by_an_admin_changes_the_password_before_anything_else(api: Api) -> None:
    added_by_admin(api, "new.c")
    listed = api.client.get("/v1/people", headers=bearer(api.login("admin.c"))).json()
    assert next(p for p in listed if p["username"] == "new.c")["must_change_password"]
    login = first_login(api, "new.c")
    assert login["password_change_required"] is True
    mine = bearer(str(login["token"]))
    search = {"plate": "KRT417", "purpose": "stolen_vehicle", "case_number": "26-1",
              "factual_basis": "Reported stolen, owner statement on file."}  # fmt: skip
    for method, path, body in (("GET", "/v1/me", None), ("GET", "/v1/hits", None),
                               ("POST", "/v1/reads/search", search)):  # fmt: skip
        before = len(api.trail.events)
        refused = api.client.request(method, path, headers=mine, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert "must be changed before anything else" in refused.json()["detail"]
        event = api.trail.events[-1]
        assert len(api.trail.events) == before + 1
        assert (event.action, event.outcome, event.actor) == (
            AuditAction.ACCESS_DENIED, AuditOutcome.DENIED, "new.c",
        )  # fmt: skip
        assert event.target_id == f"{method} {path}"
        assert "password change due" in event.details["reason"]
    changed = api.client.post("/v1/me/password", headers=mine, json={
        "current_password": PASSWORD, "new_password": OWN_PASSWORD,
    })  # fmt: skip
    assert changed.status_code == 200, changed.text
    # The same session may now do what its roles allow; the flag is gone for good.
    assert api.client.get("/v1/me", headers=mine).status_code == 200
    account = api.accounts.account("new.c")
    assert account is not None and not account.must_change_password
    api.accounts.accounts["new.c"] = replace(account, last_totp_step=0)  # a fresh code
    assert first_login(api, "new.c", OWN_PASSWORD)["password_change_required"] is False


def test_a_session_whose_change_is_due_may_log_out(api: Api) -> None:
    added_by_admin(api, "new.c")
    mine = bearer(str(first_login(api, "new.c")["token"]))
    assert api.client.post("/v1/logout", headers=mine).status_code == 200
    assert api.client.post("/v1/me/password", headers=mine, json={
        "current_password": PASSWORD, "new_password": OWN_PASSWORD,
    }).status_code == 401  # fmt: skip


def test_a_reset_makes_the_change_due_again(api: Api) -> None:
    api.person("inv.c", C, Role.INVESTIGATOR)
    assert api.client.get("/v1/me", headers=bearer(api.login("inv.c"))).status_code == 200
    reset = api.client.post("/v1/people/inv.c/reset", headers=bearer(api.login("admin.c")))
    assert reset.status_code == 200, reset.text
    body = reset.json()
    totp = pyotp.parse_uri(body["totp_uri"])
    assert isinstance(totp, pyotp.TOTP)
    api.totp["inv.c"] = totp
    login = first_login(api, "inv.c", body["password"])
    assert login["password_change_required"] is True
    mine = bearer(str(login["token"]))
    assert api.client.get("/v1/hits", headers=mine).status_code == 403
    # A wrong current password changes nothing: still due.
    wrong = api.client.post("/v1/me/password", headers=mine, json={
        "current_password": "not the one-time password", "new_password": OWN_PASSWORD,
    })  # fmt: skip
    assert wrong.status_code == 403
    assert api.client.get("/v1/hits", headers=mine).status_code == 403
    assert api.client.post("/v1/me/password", headers=mine, json={
        "current_password": body["password"], "new_password": OWN_PASSWORD,
    }).status_code == 200  # fmt: skip
    assert api.client.get("/v1/hits", headers=mine).status_code == 200


def test_a_password_its_holder_chose_is_not_flagged(api: Api) -> None:
    token = api.person("own.c", C, Role.INVESTIGATOR)  # as the bootstrap and the demo make
    assert api.client.get("/v1/me", headers=bearer(token)).status_code == 200


def test_a_change_ends_the_persons_other_sessions_and_keeps_this_one(api: Api) -> None:
    added_by_admin(api, "new.c")
    other = bearer(str(first_login(api, "new.c")["token"]))  # another login, still due
    account = api.accounts.accounts["new.c"]
    api.accounts.accounts["new.c"] = replace(account, last_totp_step=0)  # a fresh code
    mine = bearer(str(first_login(api, "new.c")["token"]))
    before = len(api.trail.events)
    changed = api.client.post("/v1/me/password", headers=mine, json={
        "current_password": PASSWORD, "new_password": OWN_PASSWORD,
    })  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["other_sessions_ended"] is True
    changes = [e.details["change"] for e in api.trail.events[before:]]
    assert changes == ["password changed", "logout of every other session: password changed"]
    ended = api.trail.events[-1]
    assert (ended.actor, ended.target_id, ended.outcome) == ("new.c", "new.c",
                                                             AuditOutcome.SUCCESS)  # fmt: skip
    # The other session is not let loose by the cleared flag: it is ended (401).
    refused = api.client.get("/v1/me", headers=other)
    assert refused.status_code == 401 and "change of the password" in refused.json()["detail"]
    assert api.trail.events[-1].action is AuditAction.ACCESS_DENIED
    assert api.client.get("/v1/me", headers=mine).status_code == 200
    assert api.client.get("/v1/me", headers=other).status_code == 401  # and stays ended
