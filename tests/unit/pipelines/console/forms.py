"""Reading a console page's form, and logging in through the console's own, in tests."""

from __future__ import annotations

import re
from dataclasses import replace

from fastapi.testclient import TestClient

from tests.unit.pipelines.api.harness import PASSWORD, Api


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no field {name}"
    return found.group(1)


def logged_in(api: Api, username: str, next_page: str = "/console/search") -> TestClient:
    """A browser logged in as ``username`` through the login form (a fresh TOTP code),
    its first redirect kept in the ``x-first-location`` header."""
    browser = TestClient(api.client.app, base_url="https://testserver", follow_redirects=False)
    account = api.accounts.accounts[username]
    api.accounts.accounts[username] = replace(account, last_totp_step=0)  # a fresh code
    form = browser.get(f"/console/login?next={next_page}").text
    answer = browser.post("/console/login", data={
        "csrf": hidden(form, "csrf"), "next": next_page, "username": username,
        "password": PASSWORD, "code": api.totp[username].now(),
    })  # fmt: skip
    assert answer.status_code == 303, answer.text
    browser.headers["x-first-location"] = answer.headers["location"]
    return browser
