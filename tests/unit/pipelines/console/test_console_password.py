"""The console's password page: a person whose password an administrator set is sent
there after login and from every other page until they change it (CSRF as every form,
refusals audited); anyone logged in with an lprx password may change theirs there."""

from __future__ import annotations

import pyotp
import pytest

from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome
from tests.unit.pipelines.api.harness import PASSWORD, Api, C, bearer
from tests.unit.pipelines.console.forms import hidden, logged_in

OWN_PASSWORD = "a password of my own choosing"


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    api = Api(tmp_path_factory.mktemp("console-password"))
    api.person("admin.c", C, Role.AGENCY_ADMIN)
    answer = api.client.post(
        "/v1/people",
        headers=bearer(api.login("admin.c")),
        json={"username": "new.c", "roles": ["investigator"], "password": PASSWORD},
    )
    assert answer.status_code == 200, answer.text
    totp = pyotp.parse_uri(answer.json()["totp_uri"])
    assert isinstance(totp, pyotp.TOTP)
    api.totp["new.c"] = totp
    return api


def test_a_due_change_is_made_on_the_password_page_before_any_other(api: Api) -> None:
    browser = logged_in(api, "new.c")
    assert browser.headers["x-first-location"] == "/console/password?next=/console/search"
    before = len(api.trail.events)
    sent_back = browser.get("/console/search")
    assert sent_back.status_code == 303
    assert sent_back.headers["location"] == "/console/password?next=/console/search"
    event = api.trail.events[before]
    assert (event.action, event.outcome, event.target_id) == (
        AuditAction.ACCESS_DENIED, AuditOutcome.DENIED, "GET /console/search",
    )  # fmt: skip
    page = browser.get("/console/password?next=/console/search")
    assert page.status_code == 200 and 'id="due"' in page.text
    assert 'href="/console/search"' not in page.text  # no page it cannot open is offered
    fields = {"next": "/console/search", "current_password": PASSWORD,
              "new_password": OWN_PASSWORD, "confirm_password": OWN_PASSWORD}  # fmt: skip
    forged = browser.post("/console/password", data={**fields, "csrf": "not-this-session"})
    assert forged.status_code == 403
    csrf = hidden(page.text, "csrf")
    mismatch = browser.post("/console/password",
                            data={**fields, "csrf": csrf, "confirm_password": "something else"})  # fmt: skip
    assert mismatch.status_code == 400 and "differ" in mismatch.text
    wrong = browser.post("/console/password",
                         data={**fields, "csrf": csrf, "current_password": "not it at all"})  # fmt: skip
    assert wrong.status_code == 403 and "current password is wrong" in wrong.text
    assert browser.get("/console/search").status_code == 303  # still due
    done = browser.post("/console/password", data={**fields, "csrf": csrf})
    assert (done.status_code, done.headers["location"]) == (303, "/console/search")
    assert browser.get("/console/search").status_code == 200
    account = api.accounts.account("new.c")
    assert account is not None and not account.must_change_password


def test_logout_works_while_the_change_is_due(api: Api) -> None:
    browser = logged_in(api, "new.c")
    csrf = hidden(browser.get("/console/password").text, "csrf")
    out = browser.post("/console/logout", data={"csrf": csrf})
    assert (out.status_code, out.headers["location"]) == (303, "/console/login")


def test_a_person_changes_their_own_password_when_they_like(api: Api) -> None:
    api.person("inv.c", C, Role.INVESTIGATOR)
    browser = logged_in(api, "inv.c", "/console/hits")
    assert browser.headers["x-first-location"] == "/console/hits"
    page = browser.get("/console/hits")
    assert 'id="password-link"' in page.text
    form = browser.get("/console/password?next=/console/hits")
    assert form.status_code == 200 and 'id="due"' not in form.text
    done = browser.post("/console/password", data={
        "csrf": hidden(form.text, "csrf"), "next": "//evil.example/", "current_password": PASSWORD,
        "new_password": OWN_PASSWORD, "confirm_password": OWN_PASSWORD,
    })  # fmt: skip
    assert (done.status_code, done.headers["location"]) == (303, "/console/")  # no open redirect


def test_a_change_on_the_page_ends_the_persons_other_sessions_and_keeps_this_one(
    api: Api,
) -> None:
    api.person("inv.c", C, Role.INVESTIGATOR)
    other_browser = logged_in(api, "inv.c", "/console/hits")
    cli_token = bearer(api.login("inv.c"))  # the CLI's session, say
    browser = logged_in(api, "inv.c", "/console/hits")
    form = browser.get("/console/password?next=/console/hits")
    done = browser.post("/console/password", data={
        "csrf": hidden(form.text, "csrf"), "next": "/console/hits", "current_password": PASSWORD,
        "new_password": OWN_PASSWORD, "confirm_password": OWN_PASSWORD,
    })  # fmt: skip
    assert (done.status_code, done.headers["location"]) == (303, "/console/hits")
    assert browser.get("/console/hits").status_code == 200  # this session goes on
    assert api.client.get("/v1/me", headers=cli_token).status_code == 401
    sent_to_login = other_browser.get("/console/hits")
    assert sent_to_login.status_code == 303
    assert sent_to_login.headers["location"].startswith("/console/login")
    ended = [e for e in api.trail.events if e.details.get("change", "").startswith("logout")]
    assert [(e.actor, e.target_id) for e in ended] == [("inv.c", "inv.c")]
