"""The console's cookie counts on the console's pages only: a cross-site form POST that
a browser sends to ``/v1/...`` with the cookie and nothing else is refused (401,
audited) and changes nothing; the same session sent as a bearer token works."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from schemas.people import Role
from schemas.records import AuditOutcome
from tests.unit.pipelines.api.harness import PASSWORD, Api, C, bearer
from tests.unit.pipelines.console.forms import hidden


def test_a_cross_site_form_post_with_only_the_console_cookie_is_refused(tmp_path: Path) -> None:
    api = Api(tmp_path)
    api.person("inv.c", C, Role.INVESTIGATOR)
    api.person("admin.c", C, Role.AGENCY_ADMIN)
    browser = TestClient(api.client.app, base_url="https://testserver", follow_redirects=False)
    account = api.accounts.accounts["admin.c"]
    api.accounts.accounts["admin.c"] = replace(account, last_totp_step=0)
    form = browser.get("/console/login").text
    logged_in = browser.post("/console/login", data={
        "csrf": hidden(form, "csrf"), "username": "admin.c", "password": PASSWORD,
        "code": api.totp["admin.c"].now(),
    })  # fmt: skip
    assert logged_in.status_code == 303, logged_in.text
    assert browser.get("/console/agreements").status_code == 200  # the cookie's own pages
    before = api.accounts.accounts["inv.c"]

    # What a page of another site can make the browser send: a form, with the cookie.
    forged = browser.post(
        "/v1/people/inv.c/reset", data={"anything": "x"},
        headers={"Origin": "https://elsewhere.example", "Referer": "https://elsewhere.example/"},
    )  # fmt: skip
    assert forged.status_code == 401, forged.text
    assert "password" not in forged.text
    refused = api.trail.events[-1]
    assert (refused.outcome, refused.target_id) == (
        AuditOutcome.DENIED, "POST /v1/people/inv.c/reset",
    )  # fmt: skip
    assert api.accounts.accounts["inv.c"] == before  # nothing reset
    assert browser.get("/v1/me").status_code == 401

    # The same session as a bearer token (what a script sends itself) is taken.
    token = browser.cookies["lprx_session"]
    assert api.client.get("/v1/me", headers=bearer(token)).json()["username"] == "admin.c"
    done = api.client.post("/v1/people/inv.c/reset", headers=bearer(token))
    assert done.status_code == 200 and api.accounts.accounts["inv.c"] != before
