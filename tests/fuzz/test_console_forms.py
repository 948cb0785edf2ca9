"""The console's forms fuzzed (Hypothesis), on memory stores, as a logged-in person with
every page's permission: any field values, any extra fields, get a page, never a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.console.forms import SEARCH_FIELDS
from pipelines.console.guard import csrf_token
from schemas.people import Role
from tests.fuzz import EXAMPLES
from tests.unit.pipelines.api.harness import A, Api, read

API = Api(Path(tempfile.mkdtemp(prefix="lprx-fuzz-console-")))
API.store.reads += [read("a1", "KRT417", A, 10), read("a2", "KRT411", A, 20, lat=45.1)]
TOKEN = API.person("fuzz.console", A, Role.INVESTIGATOR, Role.SUPERVISOR, Role.AUDITOR)
CLIENT = TestClient(API.client.app, base_url="https://testserver", follow_redirects=False)
CLIENT.cookies.set("lprx_session", TOKEN)
CSRF = csrf_token(TOKEN)
FIELDS = [*SEARCH_FIELDS, "cursor", "disposition", "note", "day"]
TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            "box",
            "circle",
            "KRT4*",
            "2026-12-01T10:00",
            "nan",
            "-1e308",
            "0",
            "stolen_vehicle",
            "26-004512",
            "x" * 30,
            "CORRECT",
            "9999-12-31T23:59",
            "0001-01-01T00:00",
            "2026-12-01T10:00+14:00",
            "1e999",
        ]
    ),
)
FORMS = st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=len(FIELDS))


@given(
    path=st.sampled_from(
        ["/console/search", "/console/hits/h1/disposition", "/console/crops/a1", "/console/login"]
    ),
    form=FORMS,
)
@settings(
    max_examples=max(EXAMPLES // 2, 20), deadline=None, suppress_health_check=list(HealthCheck)
)
def test_no_form_gets_a_server_error(path: str, form: dict[str, str]) -> None:
    answer = CLIENT.post(path, data={**form, "csrf": CSRF})
    assert answer.status_code < 500, answer.text[:500]
    assert "text/html" in answer.headers["content-type"]


@given(day=TEXT, limit=TEXT)
@settings(
    max_examples=max(EXAMPLES // 4, 10), deadline=None, suppress_health_check=list(HealthCheck)
)
def test_no_audit_query_gets_a_server_error(day: str, limit: str) -> None:
    answer = CLIENT.get("/console/audit", params={"day": day, "limit": limit})
    assert answer.status_code in (200, 400), answer.text[:500]


WHY = {"purpose": "stolen_vehicle", "case_number": "26-004512", "factual_basis": "x" * 30}
WHEN = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M"))


@given(
    start=WHEN,
    end=WHEN,
    plate=st.sampled_from(["KRT417", "KRT4*", "?RT41?", ""]),
    corners=st.tuples(*[st.floats(-1000, 1000, allow_nan=False)] * 4),
)
@settings(
    max_examples=max(EXAMPLES // 2, 20), deadline=None, suppress_health_check=list(HealthCheck)
)
def test_no_justified_search_gets_a_server_error(
    start: str, end: str, plate: str, corners: tuple[float, float, float, float]
) -> None:
    box = dict(zip(("south", "west", "north", "east"), map(str, corners), strict=True))
    form = {**WHY, "plate": plate, "start": start, "end": end, "csrf": CSRF}
    if not plate:
        form |= {"area": "box", **box}
    answer = CLIENT.post("/console/search", data=form)
    assert answer.status_code in (200, 400, 403), answer.text[:500]
