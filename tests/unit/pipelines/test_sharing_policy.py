"""Sharing policy (13.824 subd. 4): a widening waits for a second approver and shares
nothing meanwhile; a narrowing is in force at once; an agreement's excluded purposes and
a jurisdiction's barred receivers share nothing, in the share stage and in scoped search."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from pipelines.services import agreements
from pipelines.services.scope import readable_agencies
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook, deliveries
from schemas.errors import AccessDenied, NotFound, RequestRefused
from schemas.hotlist_policy import JurisdictionPolicy
from schemas.keys import pending_agreement_key
from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome, HotlistCategory
from schemas.sharing import common_terms, widenings
from tests.factories import NOW, a_hit, a_read, an_agreement, an_entry
from tests.unit.pipelines.api.harness import Api, bearer

OWNER, PARTNER = "MN9990001", "MN9990002"
SV, AA = HotlistCategory.STOLEN_VEHICLE, HotlistCategory.AMBER_ALERT


def test_what_widens_an_agreement_and_what_stays_in_force_meanwhile() -> None:
    current = an_agreement(hit_categories=(SV,), excluded_purposes=("protected_assembly",))
    assert widenings(None, current) == [f"a new partner, {PARTNER}"]
    assert widenings(current, current) == []
    narrower = replace(current, hit_categories=(), share_reads=False)
    assert widenings(current, replace(narrower, hit_categories=(SV,))) == []
    wider = replace(current, hit_categories=(AA,), share_reads=True, excluded_purposes=())
    assert widenings(current, wider) == [
        "hits of AMBER_ALERT",
        "searches of the reads",
        "purposes no longer excluded: protected_assembly",
    ]
    # Reads added, stolen-vehicle hits dropped: nothing in common stays in force.
    assert common_terms(current, wider) is None
    both = replace(wider, hit_categories=(SV, AA))
    kept = common_terms(current, both)
    assert kept is not None and (kept.hit_categories, kept.share_reads) == ((SV,), False)
    assert kept.excluded_purposes == ("protected_assembly",)


def test_a_pending_widening_delivers_nothing_and_excluded_purposes_or_receivers_nothing() -> None:
    hit = a_hit(read=a_read(agency_ori=OWNER), entry=an_entry(category=SV))
    book = AgreementBook()
    book.apply(pending_agreement_key(f"{OWNER}->{PARTNER}"), an_agreement())
    assert [d.recipient_ori for d in deliveries(hit, book, NOW)] == [OWNER]
    book.apply(f"{OWNER}->{PARTNER}", an_agreement())
    assert [d.recipient_ori for d in deliveries(hit, book, NOW)] == [OWNER, PARTNER]
    book.put(an_agreement(excluded_purposes=("stolen_vehicle",)))
    assert [d.recipient_ori for d in deliveries(hit, book, NOW)] == [OWNER]
    book.put(an_agreement())
    barred = {"MN": JurisdictionPolicy(excluded_recipients=frozenset({"MN999000"}))}
    assert [d.recipient_ori for d in deliveries(hit, book, NOW, barred)] == [OWNER]
    book.remove(f"{OWNER}->{PARTNER}")
    assert len(book) == 0 and book.pending(f"{OWNER}->{PARTNER}") is not None


def test_scoped_search_leaves_out_an_owner_whose_agreement_excludes_the_purpose() -> None:
    book = AgreementBook([an_agreement(share_reads=True, excluded_purposes=("stolen_vehicle",))])
    assert readable_agencies(book, PARTNER, NOW, "stolen_vehicle") == {PARTNER}
    assert readable_agencies(book, PARTNER, NOW, "missing_person") == {PARTNER, OWNER}
    barred = {PARTNER[:2]: JurisdictionPolicy(excluded_recipients=frozenset({PARTNER}))}
    assert readable_agencies(book, PARTNER, NOW, "missing_person", barred) == {PARTNER}


class Kafka:
    """The agreements topic and audit trail as the service writes them (no broker)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: list[tuple[str, Any]] = []
        for name in ("publish_agreement", "publish_pending", "withdraw_pending",
                     "revoke_agreement"):  # fmt: skip
            monkeypatch.setattr(agreements, name, self._recorder(name))
        monkeypatch.setattr(agreements, "make_producer", lambda *_: None)

    def _recorder(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            self.steps.append((name, args[3] if len(args) > 3 else None))

        return record

    def names(self) -> list[str]:
        return [name for name, _ in self.steps]


def propose(settings: Settings, book: AgreementBook, actor: str, **terms: Any) -> Any:
    values: dict[str, Any] = {"categories": (SV,), "legal_basis": "JPA 2026-04"} | terms
    return agreements.change(settings, book, owner=OWNER, partner=PARTNER, actor=actor, **values)


def test_a_widening_waits_for_a_second_approver_and_a_narrowing_is_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    kafka, book, settings = Kafka(monkeypatch), AgreementBook(), Settings(cache_dir=tmp_path)
    made = propose(settings, book, "admin.a")
    assert (
        made.in_force is None and made.pending is not None and kafka.names() == ["publish_pending"]
    )
    assert book.from_owner(OWNER) == [] and made.pending.proposed_by == "admin.a"
    with pytest.raises(AccessDenied, match="second person"):
        agreements.approve(settings, book, owner=OWNER, partner=PARTNER, approver="admin.a")
    approved = agreements.approve(settings, book, owner=OWNER, partner=PARTNER,
                                  approver="sup.a")  # fmt: skip
    assert (approved.approved_by, approved.proposed_by) == ("sup.a", "admin.a")
    assert book.from_owner(OWNER) == [approved] and book.pending(approved.agreement_id) is None
    with pytest.raises(NotFound):
        agreements.approve(settings, book, owner=OWNER, partner=PARTNER, approver="sup.a")
    # Adding reads while dropping nothing: pending, the stolen-vehicle hits stay in force.
    kafka.steps.clear()
    wider = propose(settings, book, "admin.a", share_reads=True)
    assert wider.widens == ["searches of the reads"] and wider.in_force == approved
    assert kafka.names() == ["publish_pending"]
    # A narrowing replaces the waiting widening and is in force at once.
    kafka.steps.clear()
    narrowed = propose(settings, book, "admin.a", excluded_purposes=("stolen_vehicle",))
    assert narrowed.pending is None and kafka.names() == ["withdraw_pending", "publish_agreement"]
    assert book.from_owner(OWNER)[0].excluded_purposes == ("stolen_vehicle",)
    assert book.pending(approved.agreement_id) is None
    # Reads instead of hits: nothing in common, so the hits end now and reads wait.
    kafka.steps.clear()
    swapped = propose(settings, book, "admin.a", categories=(), share_reads=True)
    assert swapped.in_force is None and kafka.names() == ["revoke_agreement", "publish_pending"]
    assert book.from_owner(OWNER) == []


def test_a_partner_the_jurisdiction_bars_and_an_unknown_purpose_are_refused(
    tmp_path: Any,
) -> None:
    policy = JurisdictionPolicy(excluded_recipients=frozenset({"DC"}))
    settings = Settings(cache_dir=tmp_path, jurisdiction_policies={"MN": policy})
    with pytest.raises(RequestRefused, match="bars sharing with DCICE0000"):
        agreements.change(settings, AgreementBook(), owner=OWNER, partner="DCICE0000",
                          categories=(SV,), legal_basis="none", actor="admin.a")  # fmt: skip
    with pytest.raises(RequestRefused, match="unknown purposes"):
        agreements.parse_purposes(["Immigration_Enforcement", "curiosity"])
    assert agreements.parse_purposes([" Protected_Assembly", ""]) == ("protected_assembly",)


def test_the_policy_in_words() -> None:
    since = (NOW - timedelta(days=2)).isoformat()
    views = [
        {"owner_agency_ori": OWNER, "partner_agency_ori": PARTNER, "status": "in_force",
         "hit_categories": ["STOLEN_VEHICLE"], "share_reads": True, "share_covert": False,
         "excluded_purposes": ["immigration_enforcement"], "effective_from": since,
         "legal_basis": "JPA 2026-04", "approved_by": "sup.a", "proposed_by": "admin.a",
         "widens": []},
        {"owner_agency_ori": OWNER, "partner_agency_ori": "MN9990003", "status": "pending",
         "hit_categories": ["AMBER_ALERT"], "share_reads": False, "share_covert": False,
         "excluded_purposes": [], "effective_from": since, "legal_basis": "MOU 7",
         "approved_by": "", "proposed_by": "admin.a", "widens": ["a new partner, MN9990003"]},
    ]  # fmt: skip
    lines = agreements.policy_lines(OWNER, views)
    assert lines == [
        f"{OWNER} shares with:",
        f"  {PARTNER}: hits of STOLEN_VEHICLE and searches of the reads, never for "
        f"immigration_enforcement; since {since[:16].replace('T', ' ')} UTC, under JPA 2026-04, "
        "approved by sup.a (proposed by admin.a)",
        f"{OWNER} receives from:",
        "  no agency",
        "Waiting for a second approver (not in force):",
        f"  {OWNER} -> MN9990003: hits of AMBER_ALERT; adds a new partner, MN9990003; "
        "proposed by admin.a",
    ]


def test_the_api_refuses_a_barred_receiver_and_audits_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("LPRX_JURISDICTION_POLICIES", '{"MN": {"excluded_recipients": ["DC"]}}')
    api = Api(tmp_path)
    admin = bearer(api.person("admin.a", OWNER, Role.AGENCY_ADMIN))
    answer = api.client.post("/v1/agreements", headers=admin, json={
        "partner_agency_ori": "DCICE0000", "hit_categories": ["STOLEN_VEHICLE"],
        "legal_basis": "a federal request",
    })  # fmt: skip
    assert answer.status_code == 400 and "bars sharing with DCICE0000" in answer.json()["detail"]
    event = api.trail.events[-1]
    assert (event.action, event.outcome, event.recipient_agency_ori) == (
        AuditAction.AGREEMENT_CHANGE, AuditOutcome.DENIED, "DCICE0000",
    )  # fmt: skip
    assert api.client.post(f"/v1/agreements/{PARTNER}/approve", headers=admin).status_code == 404
