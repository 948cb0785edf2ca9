"""Holds, the audit chain's verification and the public log of use through the API, on
memory stores: who may, what is audited, and what the public page leaves out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.cassandra.audit_queries import ChainHead, StoredLink
from connectors.cassandra.holds import HeldRead
from connectors.cassandra.rows import audit_day, audit_row
from connectors.cassandra.usage import CameraHour, HitCount
from schemas.audit_chain import Checkpoint, extend
from schemas.holds import Hold, HoldStatus
from schemas.people import Role
from schemas.records import AuditAction, AuditEvent, AuditOutcome
from tests.unit.pipelines.api.harness import A, Api, C, bearer

NOW = datetime.now(UTC)
DAY = f"{NOW:%Y-%m-%d}"


class MemoryHolds:
    """The hold store's contract on dicts: a held read's date is the longest hold's."""

    def __init__(self, reads: list[HeldRead]) -> None:
        self.reads = {r.read_id: r for r in reads}
        self.until = {r.read_id: r.expires_at for r in reads}
        self.saved: dict[str, Hold] = {}
        self.held: dict[str, dict[str, HeldRead]] = {}

    def save(self, hold: Hold) -> None:
        self.saved[hold.hold_id] = hold

    def hold(self, hold_id: str) -> Hold | None:
        return self.saved.get(hold_id)

    def holds(self) -> list[Hold]:
        return list(self.saved.values())

    def reads_of(self, hold: Hold) -> list[HeldRead]:
        return [r for r in self.reads.values()
                if hold.covers(r.plate, r.collected_at, r.read_id)]  # fmt: skip

    def keep(self, holds: Sequence[Hold], read: HeldRead, now: datetime) -> bool:
        for hold in holds:
            self.held.setdefault(hold.hold_id, {})[read.read_id] = read
        self.until[read.read_id] = max(read.expires_at, *(h.held_until for h in holds))
        return True

    def held_reads(self, hold_id: str) -> list[HeldRead]:
        return list(self.held.get(hold_id, {}).values())

    def forget_held(self, hold_id: str, reads: Sequence[HeldRead]) -> None:
        self.held.pop(hold_id, None)

    def holds_of_read(self, read_id: str) -> list[str]:
        return [h for h, reads in self.held.items() if read_id in reads]

    def rewrite(self, read: HeldRead, until: datetime, now: datetime) -> int:
        self.until[read.read_id] = until
        return 1

    def expire_now(self, read: HeldRead, now: datetime) -> int:
        return self.rewrite(read, now, now)


def _event(n: int) -> AuditEvent:
    return AuditEvent(f"e{n}", NOW - timedelta(minutes=30 - n), "inv.c", AuditAction.SEARCH,
                      "query", f"plate=KRT41{n}", actor_agency_ori=C, purpose="case 26-1")  # fmt: skip


class MemoryChain:
    """Agency C's chain of four events, and its audit rows (changeable)."""

    def __init__(self) -> None:
        hit = AuditEvent("d1", NOW - timedelta(minutes=1), "svc:share", AuditAction.DISSEMINATE,
                         "hit", "h1", AuditOutcome.SUCCESS, C, None, A)  # fmt: skip
        batch = [_event(1), _event(2), _event(3), hit]  # a hit shared with A, for the public log
        self.stored = [
            StoredLink(link.seq, e.event_id, audit_day(e.occurred_at), e.occurred_at,
                       link.link_hash, DAY)
            for link, e in zip(extend(C, 0, bytes(32), batch), batch, strict=True)
        ]  # fmt: skip
        self.rows: dict[str, Sequence[Any]] = {e.event_id: audit_row(e) for e in batch}

    def links(self, chain: str, chain_day: str) -> list[StoredLink]:
        return [s for s in self.stored if chain == C and s.chain_day == chain_day]

    def event_rows(self, day: str) -> list[Sequence[Any]]:
        return list(self.rows.values()) if day == DAY else []

    def checkpoints(self, chain: str) -> list[Checkpoint]:
        return []

    def heads(self) -> list[ChainHead]:
        return []

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        raise AssertionError("the API signs no checkpoint")


class Usage:
    def camera_hours(self, agency_ori: str, first_day: str, last_day: str) -> list[CameraHour]:
        return [CameraHour(DAY, "hwy7-east", 8, 40)] if agency_ori == C else []

    def hit_counts(self, agency_ori: str, first_day: str, last_day: str) -> list[HitCount]:
        return [HitCount(DAY, "STOLEN_VEHICLE", "mn-stolen", 2)] if agency_ori == C else []


def held(read_id: str, plate: str, agency: str, days_left: float) -> HeldRead:
    return HeldRead(read_id, plate, NOW - timedelta(days=1), agency,
                    NOW + timedelta(days=days_left))  # fmt: skip


@pytest.fixture
def api(tmp_path: Any) -> Iterator[Api]:
    api = Api(tmp_path)
    api.services.holds = MemoryHolds([held("c1", "KRT417", C, 10), held("c2", "KRT417", C, -1)])
    api.services.chain = MemoryChain()
    api.services.usage = Usage()
    api.tokens = {  # type: ignore[attr-defined]
        "sup_c": api.person("sup.c", C, Role.SUPERVISOR),
        "sup_a": api.person("sup.a", A, Role.SUPERVISOR),
        "inv_c": api.person("inv.c", C, Role.INVESTIGATOR),
        "aud_c": api.person("aud.c", C, Role.AUDITOR),
    }
    yield api


def who(api: Api, name: str) -> dict[str, str]:
    return bearer(api.tokens[name])  # type: ignore[attr-defined]


def hold_body(**changes: Any) -> dict[str, Any]:
    return {"case_number": "26-000123", "reason": "burglary series, vehicle of interest",
            "plate": "krt417", "read_ids": ["c1", "c2"],
            "review_by": (NOW + timedelta(days=30)).isoformat(), **changes}  # fmt: skip


def place(api: Api, name: str = "sup_c", **changes: Any) -> Any:
    return api.client.post("/v1/holds", json=hold_body(**changes), headers=who(api, name))


def test_a_supervisor_places_a_hold_audited_with_their_login(api: Api) -> None:
    answer = place(api)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["kept"] == 2 and body["hold"]["plate"] == "KRT417"
    assert (body["hold"]["agency_ori"], body["hold"]["placed_by"]) == (C, "sup.c")
    holds = api.services.holds
    assert isinstance(holds, MemoryHolds)
    assert holds.until["c1"] > NOW + timedelta(days=50)  # review date + grace
    steps = [e.details["step"] for e in api.trail.events if e.action is AuditAction.HOLD]
    assert steps == ["place", "kept"]
    assert {e.actor for e in api.trail.events if e.action is AuditAction.HOLD} == {"sup.c"}


def test_an_investigator_cannot_place_a_hold_and_the_refusal_is_audited(api: Api) -> None:
    answer = place(api, "inv_c")
    assert answer.status_code == 403
    assert api.trail.events[-1].outcome is AuditOutcome.DENIED
    assert api.services.holds is not None and api.services.holds.holds() == []


def test_a_hold_missing_what_the_law_asks_is_a_400_not_a_500(api: Api) -> None:
    answer = place(api, reason="short", read_ids=[])
    assert answer.status_code == 400 and "a reason" in answer.json()["detail"]
    answer = api.client.post("/v1/holds", json={"plate": 1}, headers=who(api, "sup_c"))
    assert answer.status_code == 422


def test_an_exculpatory_request_is_recorded_with_its_statement(api: Api) -> None:
    answer = api.client.post("/v1/holds/preserve", headers=who(api, "sup_c"), json={
        "case_number": "27-CR-26-1", "requester": "J. Public (defendant)",
        "statement": "I ask that the reads of my car on Nov 3 be kept.", "plate": "KRT417",
        "read_ids": ["c1"],
    })  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["hold"]["kind"] == "EXCULPATORY"
    assert answer.json()["hold"]["requester"] == "J. Public (defendant)"


def test_listing_and_due_show_ones_own_agency_and_are_audited(api: Api) -> None:
    mine = place(api).json()["hold"]["hold_id"]
    place(api, "sup_a", plate="ABC123", read_ids=["a9"])
    listed = api.client.get("/v1/holds", headers=who(api, "sup_c")).json()
    assert [h["hold_id"] for h in listed] == [mine]
    assert api.trail.events[-1].details["ids"] == mine
    assert api.trail.events[-1].actor == "sup.c"
    due = api.client.get("/v1/holds/due", params={"within_days": 31}, headers=who(api, "sup_c"))
    assert [h["hold_id"] for h in due.json()] == [mine]
    later = api.client.get("/v1/holds/due", params={"within_days": 7}, headers=who(api, "sup_c"))
    assert later.json() == []


def test_review_and_release_act_on_ones_own_agency_only(api: Api) -> None:
    hold_id = place(api).json()["hold"]["hold_id"]
    review = {"review_by": (NOW + timedelta(days=120)).isoformat(), "note": "still open"}
    other = api.client.post(f"/v1/holds/{hold_id}/review", json=review, headers=who(api, "sup_a"))
    assert other.status_code == 403
    reviewed = api.client.post(f"/v1/holds/{hold_id}/review", json=review,
                               headers=who(api, "sup_c"))  # fmt: skip
    assert reviewed.status_code == 200 and reviewed.json()["hold"]["review_by"][:10] == (
        f"{NOW + timedelta(days=120):%Y-%m-%d}"
    )
    released = api.client.post(f"/v1/holds/{hold_id}/release", json={"note": "case closed"},
                               headers=who(api, "sup_c"))  # fmt: skip
    assert released.status_code == 200, released.text
    assert (released.json()["restored"], released.json()["deleted"]) == (1, 1)  # c2 past its date
    assert released.json()["hold"]["status"] == HoldStatus.RELEASED.value
    again = api.client.post(f"/v1/holds/{hold_id}/release", json={"note": "twice"},
                            headers=who(api, "sup_c"))  # fmt: skip
    assert again.status_code == 404
    missing = api.client.post("/v1/holds/nope/release", json={"note": "x"},
                              headers=who(api, "sup_c"))  # fmt: skip
    assert missing.status_code == 404


def test_an_auditor_verifies_its_agencys_chain_and_the_check_is_audited(api: Api) -> None:
    answer = api.client.post("/v1/audit/verify", json={}, headers=who(api, "aud_c"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["chain"], body["intact"], body["events_checked"]) == (C, True, 4)
    checked = api.trail.events[-1]
    assert (checked.actor, checked.target_kind, checked.details["results"]) == ("aud.c", "audit",
                                                                                 "4")  # fmt: skip


def test_a_changed_event_is_a_finding(api: Api) -> None:
    chain = api.services.chain
    assert isinstance(chain, MemoryChain)
    row = list(chain.rows["e2"])
    row[6] = "just curious"  # the purpose
    chain.rows["e2"] = tuple(row)
    body = api.client.post("/v1/audit/verify", json={}, headers=who(api, "aud_c")).json()
    assert not body["intact"]
    assert [(f["kind"], f["seq"], f["event_id"]) for f in body["findings"]] == [("changed", 2,
                                                                                 "e2")]  # fmt: skip


def test_only_an_auditor_verifies_and_a_bad_key_is_a_400(api: Api) -> None:
    assert api.client.post("/v1/audit/verify", json={},
                           headers=who(api, "sup_c")).status_code == 403  # fmt: skip
    bad = api.client.post("/v1/audit/verify", json={"public_keys_pem": ["not a key"]},
                          headers=who(api, "aud_c"))  # fmt: skip
    assert bad.status_code == 400


def test_the_public_log_needs_no_login_and_names_no_plate(api: Api) -> None:
    page = api.client.get("/public/transparency", params={"agency": C, "from": DAY, "to": DAY})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "hwy7-east" in page.text and A in page.text  # the camera; the agency shared with
    assert "KRT41" not in page.text
    table = api.client.get("/public/transparency",
                           params={"agency": C, "from": DAY, "to": DAY, "format": "csv"})  # fmt: skip
    assert table.status_code == 200 and "40" in table.text and "KRT41" not in table.text


@pytest.mark.parametrize("params", [
    {"agency": C, "from": "2026-13-01", "to": "2026-12-01"},
    {"agency": C, "from": "2026-12-02", "to": "2026-12-01"},
    {"agency": C, "from": "0001-01-01", "to": "9999-12-31"},
    {"agency": "nope", "from": "2026-12-01", "to": "2026-12-01"},
])  # fmt: skip
def test_a_bad_public_request_is_a_4xx(api: Api, params: dict[str, str]) -> None:
    status = api.client.get("/public/transparency", params=params).status_code
    assert status in (400, 422)
