"""The console's BCA notices (13.824 subd. 8): the agency administrator lists the notices
its cameras made and records one as filed, through the API's own route functions (CSRF
checked, the filing audited, a role without ``manage_cameras`` refused and audited)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome
from tests.unit.pipelines.api.harness import NOW, Api, C, bearer
from tests.unit.pipelines.console.forms import hidden, logged_in

HWY7 = {"latitude": 44.9351, "longitude": -93.3344, "location": "Hwy 7 at Louisiana Ave"}


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    api = Api(tmp_path_factory.mktemp("console-notices"))
    admin = bearer(api.person("admin.c", C, Role.AGENCY_ADMIN))
    api.person("inv.c", C, Role.INVESTIGATOR)
    installed = (NOW - timedelta(days=3)).date().isoformat()
    added = api.client.post("/v1/cameras", headers=admin,
                            json={"camera_id": "hwy7", "installed_on": installed, **HWY7})  # fmt: skip
    assert added.status_code == 200, added.text
    return api


def the_notice_id(api: Api) -> str:
    [notice] = api.registry.notices(C)
    return notice.notice_id


def test_the_admin_lists_the_notices_and_records_one_as_filed(api: Api) -> None:
    browser = logged_in(api, "admin.c")
    assert 'href="/console/notices"' in browser.get("/console/").text  # in the navigation
    notice_id = the_notice_id(api)
    page = browser.get("/console/notices")
    assert page.status_code == 200, page.text
    assert f'id="notice-{notice_id}"' in page.text and "Hwy 7 at Louisiana Ave" in page.text
    due = (NOW - timedelta(days=3) + timedelta(days=10)).date().isoformat()
    assert due in page.text
    action = f"/console/notices/{notice_id}/filed"
    fields = {"reference": "BCA receipt 2026-4471", "filed_on": NOW.date().isoformat()}
    forged = browser.post(action, data={**fields, "csrf": "forged"})
    assert forged.status_code == 403 and api.registry.notices(C)[0].pending
    csrf = hidden(page.text, "csrf")
    empty = browser.post(action, data={**fields, "csrf": csrf, "reference": ""})
    assert empty.status_code == 400 and 'id="problems"' in empty.text
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    future = browser.post(action, data={**fields, "csrf": csrf, "filed_on": tomorrow})
    assert future.status_code == 400 and "not in the future" in future.text
    assert api.registry.notices(C)[0].pending
    before = len(api.trail.events)
    done = browser.post(action, data={**fields, "csrf": csrf})
    assert (done.status_code, done.headers["location"]) == (
        303, f"/console/notices?filed={notice_id}",
    )  # fmt: skip
    [filed] = api.registry.notices(C)
    assert (filed.filed_by, filed.filing_reference) == ("admin.c", "BCA receipt 2026-4471")
    [event] = api.trail.events[before:]
    assert (event.actor, event.target_kind, event.target_id, event.details["change"]) == (
        "admin.c", "bca_notice", notice_id, "filed",
    )  # fmt: skip
    shown = browser.get(done.headers["location"])
    assert 'id="done"' in shown.text and "No notice pending." in shown.text
    every = browser.get("/console/notices?all=1")
    assert "BCA receipt 2026-4471" in every.text and f'id="file-{notice_id}"' not in every.text
    again = browser.post(action, data={**fields, "csrf": csrf})
    assert again.status_code == 400 and "was filed on" in again.text


def test_an_unknown_notice_is_not_found(api: Api) -> None:
    browser = logged_in(api, "admin.c")
    csrf = hidden(browser.get("/console/notices").text, "csrf")
    answer = browser.post("/console/notices/no-such-notice/filed",
                          data={"csrf": csrf, "reference": "x"})  # fmt: skip
    assert answer.status_code == 404 and "no BCA notice" in answer.text


def test_an_investigator_neither_sees_nor_files_the_notices(api: Api) -> None:
    browser = logged_in(api, "inv.c")
    assert 'href="/console/notices"' not in browser.get("/console/").text
    before = len(api.trail.events)
    refused = browser.get("/console/notices")
    assert refused.status_code == 403 and "manage_cameras" in refused.text
    event = api.trail.events[before]
    assert (event.action, event.outcome, event.target_id) == (
        AuditAction.ACCESS_DENIED, AuditOutcome.DENIED, "GET /console/notices",
    )  # fmt: skip
    csrf = hidden(browser.get("/console/").text, "csrf")
    posted = browser.post(f"/console/notices/{the_notice_id(api)}/filed",
                          data={"csrf": csrf, "reference": "x"})  # fmt: skip
    assert posted.status_code == 403 and api.registry.notices(C)[0].pending
