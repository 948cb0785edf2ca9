"""The API on memory stores: authentication on every route, roles, scoped search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome
from tests.unit.pipelines.api.harness import (
    NOW,
    PASSWORD,
    A,
    Api,
    B,
    C,
    agreement,
    bearer,
    read,
)  # fmt: skip

WHY = {
    "purpose": "stolen_vehicle",
    "case_number": "26-004512",
    "factual_basis": "Vehicle reported stolen from 4th St, owner statement on file.",
}
WINDOW = {
    "start": (NOW - timedelta(days=2)).isoformat(),
    "end": (NOW + timedelta(minutes=1)).isoformat(),
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = Api(tmp_path_factory.mktemp("api"))
    api.store.reads += [
        read("a1", "KRT417", A, 10), read("a2", "KRT417", A, 60 * 30), read("b1", "KRT417", B, 5),
        read("c1", "KRT417", C, 20), read("c2", "KRT411", C, 25, lat=45.5),
        read("a3", "XYZ999", A, 15, lat=44.9701, lon=-93.2701),
    ]  # fmt: skip
    api.tokens = {  # type: ignore[attr-defined]
        "inv_c": api.person("inv.c", C, Role.INVESTIGATOR),
        "inv_a": api.person("inv.a", A, Role.INVESTIGATOR),
        "admin_c": api.person("admin.c", C, Role.AGENCY_ADMIN),
        "operator": api.person("op", "MN0000000", Role.OPERATOR),
        "auditor_c": api.person("aud.c", C, Role.AUDITOR),
    }
    yield api


def token(api: Api, name: str) -> dict[str, str]:
    return bearer(api.tokens[name])  # type: ignore[attr-defined]


def search(api: Api, who: str, **query: Any) -> Any:
    return api.client.post("/v1/reads/search", json={**WHY, **WINDOW, **query},
                           headers=token(api, who))  # fmt: skip


def test_health_shows_the_system_use_banner(api: Api) -> None:
    body = api.client.get("/health").json()
    assert body["status"] == "ok" and "monitored" in body["banner"]


def test_readiness_says_what_keeps_the_api_from_serving(api: Api) -> None:
    """No login needed (a load balancer asks); 503 and each problem while one is there."""
    assert api.client.get("/readyz").json() == {"status": "ready"}  # nothing to check
    problems = ["kafka: Kafka does not answer: _TRANSPORT", "cassandra: does not answer"]
    api.services.readiness = lambda: problems
    answer = api.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "not ready", "problems": problems}
    api.services.readiness = list
    assert api.client.get("/readyz").status_code == 200


def test_every_route_refuses_a_call_without_credentials(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    open_routes = {"/health", "/readyz", "/v1/login"}
    checked = 0
    for path, methods in spec["paths"].items():
        if path in open_routes or path.startswith("/public/"):
            continue
        for method in methods:
            url = path.replace("{", "").replace("}", "")  # any value for a path parameter
            before = len(api.trail.events)
            answer = api.client.request(method, url)
            assert answer.status_code == 401, (method, path, answer.status_code)
            refused = api.trail.events[before:]
            assert [e.outcome for e in refused] == [AuditOutcome.DENIED], (method, path)
            checked += 1
    assert checked >= 14


def test_a_bad_token_is_refused_and_audited(api: Api) -> None:
    answer = api.client.get("/v1/me", headers=bearer("lprxs_forged"))
    assert answer.status_code == 401
    event = api.trail.events[-1]
    assert (event.action, event.outcome, event.target_id) == (
        AuditAction.ACCESS_DENIED, AuditOutcome.DENIED, "GET /v1/me",
    )  # fmt: skip


def test_a_wrong_second_factor_is_refused_and_audited(api: Api) -> None:
    code = api.totp["inv.a"].now()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answer = api.client.post("/v1/login", json={"username": "inv.a", "password": PASSWORD,
                                                "code": wrong})  # fmt: skip
    assert answer.status_code == 401 and "token" not in answer.json()
    event = api.trail.events[-1]
    assert event.outcome is AuditOutcome.DENIED and "wrong second factor" in event.details["change"]


def test_me_says_who_and_what(api: Api) -> None:
    me = api.client.get("/v1/me", headers=token(api, "inv_c")).json()
    assert me["username"] == "inv.c" and me["agency_ori"] == C
    assert "search_reads" in me["permissions"] and "load_hotlists" not in me["permissions"]


def test_without_an_agreement_c_sees_only_its_own_reads(api: Api) -> None:
    answer = search(api, "inv_c", plate="krt-417")
    assert answer.status_code == 200, answer.text
    assert [r["read_id"] for r in answer.json()["reads"]] == ["c1"]
    assert answer.json()["agencies"] == [C]
    event = api.trail.events[-1]
    assert event.outcome is AuditOutcome.SUCCESS and event.details["ids"] == "c1"
    assert event.purpose == "stolen_vehicle" and event.details["case_number"] == "26-004512"
    assert "KRT417" in event.details["query"] or "krt-417" in event.details["query"]


def test_asking_for_an_agency_without_agreement_is_refused_and_audited(api: Api) -> None:
    answer = search(api, "inv_c", plate="KRT417", agencies=[A])
    assert answer.status_code == 403
    event = api.trail.events[-1]
    assert event.outcome is AuditOutcome.DENIED and event.actor == "inv.c"
    assert A in event.details["reason"]


def test_an_agreement_sharing_reads_lets_c_see_a(api: Api) -> None:
    api.book.put(agreement(A, C, reads=True, hits=False))
    try:
        answer = search(api, "inv_c", plate="KRT417")
        assert [r["read_id"] for r in answer.json()["reads"]] == ["a1", "c1", "a2"]
        # B shares nothing with C; A's agreement with C does not open A to B.
        assert [r["read_id"] for r in search(api, "inv_a", plate="KRT417").json()["reads"]] == [
            "a1", "a2",
        ]  # fmt: skip
    finally:
        api.book.revoke(f"{A}->{C}")
    assert [r["read_id"] for r in search(api, "inv_c", plate="KRT417").json()["reads"]] == ["c1"]


def test_an_agreement_for_hits_only_does_not_share_reads(api: Api) -> None:
    api.book.put(agreement(A, C, reads=False, hits=True))
    try:
        assert search(api, "inv_c", plate="KRT417", agencies=[A]).status_code == 403
    finally:
        api.book.revoke(f"{A}->{C}")


def test_partial_plate_and_area_searches(api: Api) -> None:
    found = search(api, "inv_c", plate="KRT41?").json()["reads"]
    assert [r["read_id"] for r in found] == ["c1", "c2"]
    box = {"south": 44.9, "west": -93.3, "north": 45.0, "east": -93.2}
    assert [r["read_id"] for r in search(api, "inv_a", box=box).json()["reads"]] == [
        "a1",
        "a3",
        "a2",
    ]
    circle = {"latitude": 44.9701, "longitude": -93.2701, "radius_m": 5}
    assert [r["read_id"] for r in search(api, "inv_a", circle=circle).json()["reads"]] == ["a3"]


def test_pages_follow_on_without_repeats(api: Api) -> None:
    first = search(api, "inv_a", plate="*", limit=1)
    assert first.status_code == 400  # a wildcard needs 3 plate characters
    box = {"south": 44.0, "west": -94.0, "north": 46.0, "east": -93.0}
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = search(api, "inv_a", box=box, limit=2, cursor=cursor).json()
        seen += [r["read_id"] for r in page["reads"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["a1", "a3", "a2"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"purpose": "curiosity"}, 422),
        ({"case_number": ""}, 422),
        ({"factual_basis": "because"}, 403),
        ({"plate": None}, 400),
        ({"start": NOW.isoformat(), "end": (NOW - timedelta(hours=1)).isoformat()}, 400),
        ({"start": (NOW - timedelta(days=40)).isoformat()}, 400),
        ({"start": "2026-12-01T00:00:00"}, 422),
        ({"cursor": "not a cursor"}, 400),
        ({"limit": 5000}, 400),
    ],
)
def test_a_search_without_what_the_law_asks_is_refused(
    api: Api, change: dict[str, Any], status: int
) -> None:
    answer = search(api, "inv_c", **{"plate": "KRT417", **change})
    assert answer.status_code == status, answer.text


def test_an_operator_cannot_search(api: Api) -> None:
    answer = search(api, "operator", plate="KRT417")
    assert answer.status_code == 403
    assert api.trail.events[-1].outcome is AuditOutcome.DENIED


def test_an_investigator_cannot_load_hotlists(api: Api) -> None:
    answer = api.client.post("/v1/hotlists", headers=token(api, "inv_c"),
                             json={"list_id": "x", "source": "y", "content": ""})  # fmt: skip
    assert answer.status_code == 403
    event = api.trail.events[-1]
    assert event.outcome is AuditOutcome.DENIED and event.target_id == "POST /v1/hotlists"


@pytest.mark.parametrize(
    ("who", "route", "allowed"),
    [
        ("auditor_c", ("GET", "/v1/audit"), True),
        ("inv_c", ("GET", "/v1/audit"), False),
        ("operator", ("GET", "/v1/audit"), False),
        ("auditor_c", ("POST", "/v1/reads/search"), False),
        ("admin_c", ("POST", "/v1/reads/search"), False),
        ("inv_c", ("GET", "/v1/hits"), True),
        ("operator", ("GET", "/v1/hits"), False),
        ("admin_c", ("GET", "/v1/hits"), False),
        ("inv_c", ("POST", "/v1/people"), False),
        ("inv_c", ("POST", "/v1/service-accounts"), False),
        ("admin_c", ("POST", "/v1/service-accounts"), False),
        ("inv_c", ("POST", "/v1/agreements"), False),
        ("inv_c", ("POST", "/v1/cameras"), False),
        ("operator", ("POST", "/v1/cameras"), False),
        ("auditor_c", ("GET", "/v1/deadletters"), False),
    ],
)
def test_each_role_reaches_only_its_routes(
    api: Api, who: str, route: tuple[str, str], allowed: bool
) -> None:
    method, path = route
    answer = api.client.request(method, path, headers=token(api, who), json={})
    assert (answer.status_code != 403) is allowed, answer.text


def test_the_auditor_sees_the_audit_trail_of_its_agency_only(api: Api) -> None:
    api.store.audit[:] = [
        {"event_id": "e1", "actor_agency_ori": C, "recipient_agency_ori": None, "action": "SEARCH"},
        {"event_id": "e2", "actor_agency_ori": A, "recipient_agency_ori": None, "action": "SEARCH"},
        {"event_id": "e3", "actor_agency_ori": A, "recipient_agency_ori": C, "action": "DISSEMINATE"},
    ]  # fmt: skip
    rows = api.client.get("/v1/audit", headers=token(api, "auditor_c")).json()
    assert [r["event_id"] for r in rows] == ["e1", "e3"]


def test_hits_of_ones_own_agency_and_shared_by_agreement(api: Api) -> None:
    hit = {"matched_at": NOW.replace(tzinfo=None), "category": "STOLEN_VEHICLE", "covert": False}
    api.store.hits[:] = [
        {**hit, "hit_id": "hc", "agency_ori": C},
        {**hit, "hit_id": "ha", "agency_ori": A},
        {**hit, "hit_id": "ha-covert", "agency_ori": A, "covert": True},
        {**hit, "hit_id": "ha-amber", "agency_ori": A, "category": "AMBER_ALERT"},
    ]

    def ids() -> list[str]:
        answer = api.client.get("/v1/hits", headers=token(api, "inv_c"))
        return [h["hit_id"] for h in answer.json()]

    assert ids() == ["hc"]
    api.book.put(agreement(A, C, reads=False, hits=True))
    try:
        assert sorted(ids()) == ["ha", "hc"]
    finally:
        api.book.revoke(f"{A}->{C}")


def test_an_agency_admin_adds_people_of_its_own_agency_only(api: Api) -> None:
    headers = token(api, "admin_c")
    person = {"username": "new.inv", "roles": ["investigator"], "password": PASSWORD}
    made = api.client.post("/v1/people", headers=headers, json=person)
    assert made.status_code == 200, made.text
    assert made.json()["agency_ori"] == C and made.json()["totp_uri"].startswith("otpauth://")
    other = api.client.post("/v1/people", headers=headers,
                            json={**person, "username": "x.a", "agency_ori": A})  # fmt: skip
    assert other.status_code == 403
    admin = api.client.post("/v1/people", headers=headers,
                            json={**person, "username": "x.b", "roles": ["agency_admin"]})  # fmt: skip
    assert admin.status_code == 403
    listed = api.client.get("/v1/people", headers=headers).json()
    assert {p["username"] for p in listed} >= {"new.inv", "inv.c", "admin.c"}
    assert all(p["agency_ori"] == C for p in listed)


def test_the_operator_adds_admins_and_services_but_no_investigators(api: Api) -> None:
    headers = token(api, "operator")
    admin = {
        "username": "admin.b",
        "agency_ori": B,
        "roles": ["agency_admin"],
        "password": PASSWORD,
    }
    assert api.client.post("/v1/people", headers=headers, json=admin).status_code == 200
    inv = {**admin, "username": "inv.b", "roles": ["investigator"]}
    assert api.client.post("/v1/people", headers=headers, json=inv).status_code == 403
    service = api.client.post("/v1/service-accounts", headers=headers,
                              json={"username": "b-cad", "agency_ori": B})  # fmt: skip
    key = service.json()["key"]
    me = api.client.get("/v1/me", headers=bearer(key)).json()
    assert me["roles"] == ["service"] and me["agency_ori"] == B
    assert api.client.post("/v1/reads/search", headers=bearer(key), json={}).status_code == 403


def test_logout_ends_the_session(api: Api) -> None:
    session = api.login("aud.c")
    assert api.client.post("/v1/logout", headers=bearer(session)).status_code == 200
    assert api.client.get("/v1/me", headers=bearer(session)).status_code == 401


def test_a_crop_is_shown_only_when_its_read_may_be(api: Api) -> None:
    from schemas.records import PlateCrop

    crop = PlateCrop(read_id="a1", agency_ori=A, camera_id="cam-1", collected_at=NOW,
                     expires_at=NOW + timedelta(days=60), jpeg=b"\xff\xd8jpeg")  # fmt: skip
    api.store.crops["a1"] = crop
    mine = api.client.post("/v1/crops/a1", headers=token(api, "inv_a"), json=WHY)
    assert mine.status_code == 200 and mine.json()["agency_ori"] == A
    other = api.client.post("/v1/crops/a1", headers=token(api, "inv_c"), json=WHY)
    assert other.status_code == 404  # as if not held: a refusal confirms nothing
    assert api.trail.events[-1].outcome is AuditOutcome.DENIED
    unjustified = api.client.post("/v1/crops/a1", headers=token(api, "inv_a"),
                                  json={**WHY, "factual_basis": "because"})  # fmt: skip
    assert unjustified.status_code == 403


def test_an_admin_cannot_disable_a_person_of_another_agency(api: Api) -> None:
    answer = api.client.post("/v1/people/inv.a/disable", headers=token(api, "admin_c"))
    assert answer.status_code == 403
    account = api.accounts.account("inv.a")
    assert account is not None and account.active


def test_an_admin_manages_the_cameras_of_its_agency(api: Api) -> None:
    headers = token(api, "admin_c")
    body = {"camera_id": "c-hwy7", "kind": "SQUAD_CAR"}
    added = api.client.post("/v1/cameras", headers=headers, json=body)
    assert added.status_code == 200 and added.json()["token"].startswith("lprxc.")
    assert added.json()["agency_ori"] == C
    assert api.trail.events[-2].details == {"change": "credential added"}
    assert api.trail.events[-1].details["change"] == "registered"
    again = api.client.post("/v1/cameras", headers=headers, json=body)
    assert again.status_code == 400
    assert api.client.delete("/v1/cameras/no-such", headers=headers).status_code == 404
    assert api.client.delete("/v1/cameras/c-hwy7", headers=headers).status_code == 200


def test_camera_rotation_and_listing_stay_within_the_agency(api: Api) -> None:
    headers = token(api, "admin_c")
    api.client.post("/v1/cameras", headers=headers, json={"camera_id": "c-rot", "kind": "TRAILER"})
    rotated = api.client.post("/v1/cameras/c-rot/rotate", headers=headers)
    assert rotated.status_code == 200 and rotated.json()["token"].startswith("lprxc.")
    listed = api.client.get("/v1/cameras", headers=headers).json()
    assert "c-rot" in {c["camera_id"] for c in listed}
    assert all("token" not in c and "secret_hash" not in c for c in listed)
    assert (
        api.client.post("/v1/cameras/c-rot/rotate", headers=token(api, "inv_c")).status_code == 403
    )
