"""The CLI acts as a person: ``lprx login`` keeps a short-lived session token 0600 in the
user's config folder (``$XDG_CONFIG_HOME/lprx/session.json``, else ``~/.config``), and
every look-up calls the API with it. The token ends with the session (30 minutes idle,
12 hours at most); ``lprx logout`` ends it at once and deletes the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from connectors.security.files import read_secret, write_secret
from pipelines.api.wiring import api_url
from pipelines.cli.common import fail
from pipelines.settings import Settings

TIMEOUT_S = 60.0


def session_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "lprx" / "session.json"


def save_session(url: str, answer: dict[str, Any]) -> Path:
    kept = {k: answer[k] for k in ("token", "expires_at", "username", "agency_ori", "roles")}
    return write_secret(session_file(), json.dumps({"url": url, **kept}) + "\n")


def saved_session() -> dict[str, Any] | None:
    path = session_file()
    if not path.exists():
        return None
    found: dict[str, Any] = json.loads(read_secret(path).get_secret_value())
    return found


def client(settings: Settings, url: str | None = None) -> httpx.Client:
    """An HTTPS client of the API that trusts the lprx CA only."""
    base = url or api_url(settings)
    verify: Any = True
    if base.startswith("https://"):
        ca = settings.default_ca_file
        verify = str(ca) if ca.is_file() else True
    return httpx.Client(base_url=base, verify=verify, timeout=TIMEOUT_S)


def answer_of(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer; any other ends the command with the API's reason."""
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    if response.status_code == 401:
        detail = f"{detail} (log in with `lprx login`)"
    raise fail(f"{response.status_code}: {detail}")


def call(settings: Settings, method: str, path: str, **kwargs: Any) -> Any:
    """Calls the API as the logged-in person."""
    session = saved_session()
    if session is None:
        raise fail("not logged in: run `lprx login`")
    try:
        with client(settings, session["url"]) as http:
            response = http.request(
                method, path, headers={"Authorization": f"Bearer {session['token']}"}, **kwargs
            )
    except httpx.HTTPError as error:
        raise fail(f"the API at {session['url']} did not answer: {error}") from error
    return answer_of(response)
