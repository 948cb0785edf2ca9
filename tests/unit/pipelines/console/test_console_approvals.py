"""The console's second approver: a supervisor approves or rejects a widening another
person proposed, through the API's own route functions (the proposer refused, audited;
the forms' CSRF checked; a role without the permission refused)."""

from __future__ import annotations

import pytest

from pipelines.services import agreements
from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome, HotlistCategory
from tests.unit.pipelines.api.harness import A, Api, C
from tests.unit.pipelines.console.forms import hidden, logged_in
from tests.unit.pipelines.test_sharing_policy import Kafka


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Api:
    Kafka(monkeypatch)  # the agreements topic as the service writes it, without a broker
    api = Api(tmp_path_factory.mktemp("console-approvals"))
    for username, role in (("admin.a", Role.AGENCY_ADMIN), ("sup.a", Role.SUPERVISOR),
                           ("inv.a", Role.INVESTIGATOR)):  # fmt: skip
        api.person(username, A, role)
    return api


def propose(api: Api, partner: str = C) -> None:
    made = agreements.change(
        api.settings, api.book, owner=A, partner=partner, actor="admin.a",
        categories=(HotlistCategory.STOLEN_VEHICLE,), legal_basis="JPA 2026-04",
    )  # fmt: skip
    assert made.pending is not None


def test_a_supervisor_approves_a_widening_from_the_agreements_page(api: Api) -> None:
    propose(api)
    browser = logged_in(api, "sup.a")
    page = browser.get("/console/agreements")
    assert page.status_code == 200 and f'id="approve-{C}"' in page.text
    forged = browser.post(f"/console/agreements/{C}/approve", data={"csrf": "forged"})
    assert forged.status_code == 403 and api.book.pending(f"{A}->{C}") is not None
    done = browser.post(
        f"/console/agreements/{C}/approve", data={"csrf": hidden(page.text, "csrf")}
    )
    assert (done.status_code, done.headers["location"]) == (
        303,
        f"/console/agreements?approved={C}",
    )
    [in_force] = api.book.from_owner(A)
    assert (in_force.approved_by, in_force.proposed_by) == ("sup.a", "admin.a")
    assert api.book.pending(f"{A}->{C}") is None
    shown = browser.get(done.headers["location"])
    assert 'id="done"' in shown.text and f'id="approve-{C}"' not in shown.text


def test_a_supervisor_rejects_a_widening_and_nothing_comes_in_force(api: Api) -> None:
    propose(api)
    browser = logged_in(api, "sup.a")
    csrf = hidden(browser.get("/console/agreements").text, "csrf")
    done = browser.post(f"/console/agreements/{C}/reject", data={"csrf": csrf})
    assert (done.status_code, done.headers["location"]) == (
        303,
        f"/console/agreements?rejected={C}",
    )
    assert api.book.pending(f"{A}->{C}") is None and api.book.from_owner(A) == []
    again = browser.post(f"/console/agreements/{C}/reject", data={"csrf": csrf})
    assert again.status_code == 404  # nothing waits any more: a page, not a 500


def test_the_proposer_and_an_investigator_cannot_approve(api: Api) -> None:
    propose(api)
    proposer = logged_in(api, "admin.a")
    page = proposer.get("/console/agreements").text
    assert f'id="approve-{C}"' not in page and "you proposed it" in page
    refused = proposer.post(f"/console/agreements/{C}/approve", data={"csrf": hidden(page, "csrf")})
    assert refused.status_code == 403 and "second person" in refused.text
    event = api.trail.events[-1]
    assert (event.action, event.outcome, event.actor) == (
        AuditAction.AGREEMENT_CHANGE, AuditOutcome.DENIED, "admin.a",
    )  # fmt: skip
    investigator = logged_in(api, "inv.a")
    page = investigator.get("/console/agreements").text
    assert f'id="approve-{C}"' not in page
    denied = investigator.post(f"/console/agreements/{C}/approve",
                               data={"csrf": hidden(page, "csrf")})  # fmt: skip
    assert denied.status_code == 403
    assert api.trail.events[-1].action is AuditAction.ACCESS_DENIED
    assert api.book.pending(f"{A}->{C}") is not None  # still waiting
