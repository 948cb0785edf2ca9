"""The web console on memory stores: login with the second factor, the cookie, CSRF on
every form, refusals audited as the API audits them, search with its map, the hits
inbox, crops, agreements and the audit trail; errors are pages, never a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipelines.console.guard import csrf_token
from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome, PlateCrop
from tests.unit.pipelines.api.harness import NOW, PASSWORD, A, Api, B, C, agreement, read
from tests.unit.pipelines.console.forms import hidden, logged_in

FORM = {
    "plate": "KRT417",
    "purpose": "stolen_vehicle",
    "case_number": "26-004512",
    "factual_basis": "Vehicle reported stolen from 4th St, owner statement on file.",
    "start": (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
    "end": (NOW + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
    "area": "none",
    "limit": "50",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = Api(tmp_path_factory.mktemp("console"))
    api.store.reads += [
        read("c1", "KRT417", C, 20, lat=44.9701, lon=-93.2702),
        read("c2", "KRT417", C, 30, lat=44.9801, lon=-93.2502),
        read("a1", "KRT417", A, 10),
        read("c3", "KRT411", C, 25),
    ]
    api.store.hits.append(
        {
            "hit_id": "hit-c1",
            "agency_ori": C,
            "matched_at": NOW.replace(tzinfo=None),
            "plate": "KRT417",
            "read_id": "c1",
            "category": "STOLEN_VEHICLE",
            "priority": 50,
            "covert": False,
            "camera_id": "cam-1",
            "collected_at": NOW.replace(tzinfo=None),
            "match_kind": "CONFUSABLE",
            "needs_verification": True,
        }
    )
    api.store.crops["c1"] = PlateCrop(
        read_id="c1",
        agency_ori=C,
        camera_id="cam-1",
        collected_at=NOW,
        expires_at=NOW + timedelta(days=60),
        jpeg=b"\xff\xd8\xff\xe0fake-jpeg",
    )
    api.book.put(agreement(C, A, reads=False, hits=True))
    for username, roles in (
        ("inv.c", (Role.INVESTIGATOR,)),
        ("aud.c", (Role.AUDITOR,)),
        ("op", (Role.OPERATOR,)),
        ("sup.c", (Role.SUPERVISOR,)),
    ):
        api.person(username, "MN0000000" if username == "op" else C, *roles)
    yield api


def browser(api: Api) -> TestClient:
    """A client of its own (cookies), over https so the Secure cookie travels."""
    return TestClient(api.client.app, base_url="https://testserver", follow_redirects=False)


def csrf(client: TestClient) -> str:
    return csrf_token(client.cookies["lprx_session"])


def test_the_login_page_shows_the_system_use_banner_and_its_limits(api: Api) -> None:
    page = browser(api).get("/console/login")
    assert page.status_code == 200
    assert "Every access is monitored" in page.text and "30 minutes unused" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_a_login_sets_an_httponly_secure_strict_cookie_with_the_api_session(api: Api) -> None:
    client = browser(api)
    form = client.get("/console/login").text
    account = api.accounts.accounts["inv.c"]
    api.accounts.accounts["inv.c"] = replace(account, last_totp_step=0)
    answer = client.post(
        "/console/login",
        data={
            "csrf": hidden(form, "csrf"),
            "username": "inv.c",
            "password": PASSWORD,
            "code": api.totp["inv.c"].now(),
            "next": "/console/hits",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/hits"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "lprx_session=" in c)
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    token = client.cookies["lprx_session"]
    # The same session the API takes as a bearer token.
    me = api.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "inv.c"


def test_a_wrong_second_factor_is_refused_audited_and_sets_no_session(api: Api) -> None:
    client = browser(api)
    form = client.get("/console/login").text
    before = len(api.trail.events)
    answer = client.post(
        "/console/login",
        data={
            "csrf": hidden(form, "csrf"),
            "username": "aud.c",
            "password": PASSWORD,
            "code": "000000" if api.totp["aud.c"].now() != "000000" else "111111",
        },
    )
    assert answer.status_code == 401 and "lprx_session" not in client.cookies
    assert 'id="problems"' in answer.text
    refused = [e for e in api.trail.events[before:] if e.outcome is AuditOutcome.DENIED]
    assert refused and refused[0].target_id == "aud.c"


def test_a_login_without_its_form_token_is_refused(api: Api) -> None:
    client = browser(api)
    answer = client.post(
        "/console/login",
        data={
            "username": "inv.c",
            "password": PASSWORD,
            "code": api.totp["inv.c"].now(),
        },
    )
    assert answer.status_code == 403 and "lprx_session" not in client.cookies


@pytest.mark.parametrize(
    "path",
    ["/console/", "/console/search", "/console/hits", "/console/agreements", "/console/audit"],
)
def test_every_page_without_a_login_redirects_to_the_login_page_audited(
    api: Api, path: str
) -> None:
    before = len(api.trail.events)
    answer = browser(api).get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=")
    refused = api.trail.events[before:]
    assert [(e.actor, e.action, e.target_id) for e in refused] == [
        ("anonymous", AuditAction.ACCESS_DENIED, f"GET {path}")
    ]


def test_a_login_goes_back_only_to_a_console_page(api: Api) -> None:
    client = browser(api)
    form = client.get("/console/login").text
    account = api.accounts.accounts["sup.c"]
    api.accounts.accounts["sup.c"] = replace(account, last_totp_step=0)
    answer = client.post(
        "/console/login",
        data={
            "csrf": hidden(form, "csrf"),
            "username": "sup.c",
            "password": PASSWORD,
            "code": api.totp["sup.c"].now(),
            "next": "//evil.example/console/",
        },
    )
    assert answer.headers["location"] == "/console/"


def test_a_role_lacking_the_permission_gets_a_403_page_audited_as_the_api_does(
    api: Api,
) -> None:
    operator = logged_in(api, "op")
    before = len(api.trail.events)
    page = operator.get("/console/search")
    assert page.status_code == 403 and "Not allowed" in page.text
    console_refusal = api.trail.events[before:]
    token = operator.cookies["lprx_session"]
    before = len(api.trail.events)
    api_answer = api.client.post(
        "/v1/reads/search", headers={"Authorization": f"Bearer {token}"}, json={}
    )
    assert api_answer.status_code == 403
    api_refusal = api.trail.events[before:]
    assert [(e.actor, e.action, e.outcome, e.details["reason"]) for e in console_refusal] == [
        (e.actor, e.action, e.outcome, e.details["reason"]) for e in api_refusal
    ]
    assert logged_in(api, "inv.c").get("/console/audit").status_code == 403


def test_a_search_shows_the_results_and_their_map_audited_with_its_purpose(api: Api) -> None:
    client = logged_in(api, "inv.c")
    before = len(api.trail.events)
    page = client.post("/console/search", data={**FORM, "csrf": csrf(client)})
    assert page.status_code == 200, page.text
    rows = re.findall(r"<td class=\"muted\">(\w+)</td></tr>", page.text)
    assert rows == ["c1", "c2"]  # C's own reads, newest first; none of A's (no agreement)
    assert page.text.count('class="read"') == 2 and "KRT417" in page.text and "<svg" in page.text
    searches = [e for e in api.trail.events[before:] if e.action is AuditAction.SEARCH]
    assert searches[-1].details["ids"] == "c1,c2" and searches[-1].purpose == "stolen_vehicle"
    assert searches[-1].details["case_number"] == "26-004512"


def test_search_pages_follow_the_cursor(api: Api) -> None:
    client = logged_in(api, "inv.c")
    first = client.post("/console/search", data={**FORM, "limit": "1", "csrf": csrf(client)})
    assert re.findall(r"<td class=\"muted\">(\w+)</td></tr>", first.text) == ["c1"]
    cursor = hidden(first.text, "cursor")
    second = client.post(
        "/console/search", data={**FORM, "limit": "1", "cursor": cursor, "csrf": csrf(client)}
    )
    assert re.findall(r"<td class=\"muted\">(\w+)</td></tr>", second.text) == ["c2"]


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"case_number": ""}, 400, "case_number"),
        ({"purpose": "just curious"}, 400, "purpose"),
        ({"factual_basis": "short"}, 403, "factual basis"),
        ({"start": "yesterday"}, 400, "start"),
        ({"plate": "", "area": "box", "south": "x"}, 400, "south"),
        (
            {
                "plate": "",
                "area": "circle",
                "latitude": "1e999",
                "longitude": "0",
                "radius_m": "10",
            },
            400,
            "latitude",
        ),
        ({"plate": ""}, 400, "a plate"),
        ({"limit": "99999999999999999999"}, 400, "limit"),
        ({"cursor": "garbage"}, 400, "cursor"),
        ({"plate": "\x00\ud7ff*"}, 400, ""),
    ],
)
def test_a_bad_search_form_is_answered_with_the_form_and_its_problems(
    api: Api, change: dict[str, str], status: int, says: str
) -> None:
    client = logged_in(api, "inv.c")
    page = client.post("/console/search", data={**FORM, **change, "csrf": csrf(client)})
    assert page.status_code == status, page.text
    assert 'id="problems"' in page.text and says in page.text
    assert 'id="search-form"' in page.text


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/search", FORM),
        ("/console/hits/hit-c1/disposition", {"disposition": "CORRECT"}),
        (
            "/console/crops/c1",
            {"purpose": "hit_verification", "case_number": "26-1", "factual_basis": "x" * 30},
        ),
        ("/console/logout", {}),
    ],
)
def test_a_form_post_without_the_sessions_csrf_token_is_refused_and_audited(
    api: Api, path: str, data: dict[str, str]
) -> None:
    client = logged_in(api, "inv.c")
    for token in (None, "0" * 64, csrf_token("another session")):
        before = len(api.trail.events)
        sent = data if token is None else {**data, "csrf": token}
        page = client.post(path, data=sent)
        assert page.status_code == 403 and "CSRF" in page.text
        refused = api.trail.events[before:]
        assert [(e.actor, e.outcome) for e in refused] == [("inv.c", AuditOutcome.DENIED)]
    assert client.get("/console/").status_code == 200  # the session is still there


def test_the_hits_inbox_shows_the_agencys_hits_with_disposition_and_crop_forms(
    api: Api,
) -> None:
    client = logged_in(api, "inv.c")
    page = client.get("/console/hits")
    assert page.status_code == 200 and 'id="hit-hit-c1"' in page.text
    assert 'action="/console/hits/hit-c1/disposition"' in page.text
    assert 'action="/console/crops/c1"' in page.text and "MISREAD" in page.text
    row = page.text.split('id="hit-hit-c1"', 1)[1].split("</tr>", 1)[0]
    assert "needs-verification" in row and "confusable match" in row


def test_a_disposition_of_a_hit_the_store_does_not_hold_is_a_404_page(api: Api) -> None:
    client = logged_in(api, "inv.c")
    page = client.post(
        "/console/hits/hit-c1/disposition", data={"disposition": "CORRECT", "csrf": csrf(client)}
    )
    assert page.status_code == 404 and "not held" in page.text
    bad = client.post(
        "/console/hits/hit-c1/disposition", data={"disposition": "BURN_IT", "csrf": csrf(client)}
    )
    assert bad.status_code == 400


def test_a_crop_is_shown_with_its_justification_audited(api: Api) -> None:
    client = logged_in(api, "inv.c")
    before = len(api.trail.events)
    page = client.post(
        "/console/crops/c1",
        data={
            "purpose": "hit_verification",
            "case_number": "26-004512",
            "factual_basis": "Verifying the stolen-vehicle hit before a stop.",
            "csrf": csrf(client),
        },
    )
    assert page.status_code == 200 and 'src="data:image/jpeg;base64,/9j/' in page.text
    crops = [e for e in api.trail.events[before:] if e.target_kind == "crop"]
    assert crops[-1].details["ids"] == "c1" and crops[-1].purpose == "hit_verification"
    missing = client.post(
        "/console/crops/a1",
        data={
            "purpose": "hit_verification",
            "case_number": "26-004512",
            "factual_basis": "Verifying the stolen-vehicle hit before a stop.",
            "csrf": csrf(client),
        },
    )
    assert missing.status_code == 404


def test_the_agreements_of_ones_agency_are_listed(api: Api) -> None:
    page = logged_in(api, "inv.c").get("/console/agreements")
    assert page.status_code == 200 and f"<td>{C}</td><td>{A}</td>" in page.text
    # The policy in words: what C shares with A, since when, approved by whom.
    assert f"<li>{A}: hits of STOLEN_VEHICLE; since " in page.text
    assert "approved by chief</li>" in page.text


def test_a_widening_waiting_is_shown_as_not_in_force(api: Api) -> None:
    pending = replace(agreement(C, B, reads=True, hits=False), approved_by="",
                      proposed_by="admin.c")  # fmt: skip
    api.book.put_pending(pending)
    try:
        page = logged_in(api, "inv.c").get("/console/agreements")
        assert "Waiting for a second approver (not in force):" in page.text
        assert f"<li>{C} -&gt; {B}: searches of the reads; adds a new partner, {B}; " in page.text
        assert "waiting for a second approver: adds a new partner" in page.text
    finally:
        api.book.drop_pending(pending.agreement_id)


def test_the_audit_trail_is_shown_to_an_auditor_and_reading_it_is_audited(api: Api) -> None:
    api.store.audit.append(
        {
            "event_id": "ev-1",
            "occurred_at": NOW,
            "actor": "inv.c",
            "actor_agency_ori": C,
            "action": "SEARCH",
            "outcome": "SUCCESS",
            "purpose": "stolen_vehicle",
            "target_kind": "reads",
            "target_id": "plate=KRT417",
            "recipient_agency_ori": None,
            "details": {"case_number": "26-004512", "note": "<script>x</script>"},
        }
    )
    client = logged_in(api, "aud.c")
    before = len(api.trail.events)
    page = client.get("/console/audit", params={"day": NOW.date().isoformat()})
    assert page.status_code == 200 and "plate=KRT417" in page.text
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert any(e.target_kind == "audit" for e in api.trail.events[before:])
    assert client.get("/console/audit", params={"day": "1 January"}).status_code == 400
    assert client.get("/console/audit", params={"limit": "-1"}).status_code == 200


def test_logout_ends_the_session(api: Api) -> None:
    client = logged_in(api, "inv.c")
    token = client.cookies["lprx_session"]
    answer = client.post("/console/logout", data={"csrf": csrf(client)})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    client.cookies.set("lprx_session", token)
    assert client.get("/console/search").status_code == 303


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/console/login", b"\xff\xfe"),
        ("POST", "/console/login", b"username=" + b"x" * 10_000),
        ("GET", "/console/login?next=%00", None),
        ("POST", "/console/search", b"--x\r\n"),
        ("GET", "/console/audit?day=%ff", None),
        ("POST", "/console/crops/..%2f..%2fetc", b"a=b"),
    ],
)
def test_odd_requests_are_answered_with_pages_never_a_500(
    api: Api, method: str, path: str, body: Any
) -> None:
    client = logged_in(api, "inv.c")
    answer = client.request(
        method, path, content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code < 500 and "text/html" in answer.headers["content-type"]


def test_console_pages_stay_out_of_the_apis_openapi(api: Api) -> None:
    assert not [p for p in api.client.get("/openapi.json").json()["paths"] if "console" in p]


@pytest.mark.parametrize("plate", ["KRT4*", ""])
def test_a_window_from_year_one_is_searched_not_a_server_error(api: Api, plate: str) -> None:
    # Found by fuzzing the console's forms: the day walk went below the first date.
    client = logged_in(api, "inv.c")
    area = (
        {}
        if plate
        else {"area": "box", "south": "-90", "west": "-180", "north": "90", "east": "180"}
    )
    page = client.post(
        "/console/search",
        data={
            **FORM,
            "plate": plate,
            **area,
            "start": "0001-01-01T00:00",
            "end": "0001-01-02T00:00",
            "csrf": csrf(client),
        },
    )
    assert page.status_code == 200 and "No read matches." in page.text


def test_a_supervisor_sees_the_searches_of_the_agency_only(api: Api) -> None:
    page = logged_in(api, "sup.c").get("/console/audit", params={"day": NOW.date().isoformat()})
    assert page.status_code == 200 and "searches of your agency" in page.text
