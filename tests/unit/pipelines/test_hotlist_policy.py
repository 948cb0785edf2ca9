"""Hotlists by the rules (13.824 subd. 2(c)): a load declares a source the law allows
(else it is refused and audited), and what the jurisdiction excludes is dropped, counted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import Producer

from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.formats import parse_ncic
from connectors.kafka.audit import MemoryAuditTrail
from pipelines.services.hotlists import (
    Declaration,
    HotlistFormat,
    checked_declaration,
    declared_source,
    load_hotlist,
)
from pipelines.settings import Settings
from schemas.errors import RequestRefused
from schemas.hotlist_policy import (
    HotlistSourceKind,
    JurisdictionPolicy,
    ListPurpose,
    NcicFile,
    entry_purpose,
    excluded_entry,
    policy_for,
)
from schemas.people import Role
from schemas.records import AuditAction, AuditOutcome, HotlistCategory, HotlistEntry
from tests.unit.pipelines.api.harness import Api, bearer

ORI = "MN0270100"
MN_BARS_IV = {
    "MN": JurisdictionPolicy(
        excluded_ncic_files=frozenset({NcicFile.IMMIGRATION_VIOLATOR}),
        barred_purposes=frozenset({ListPurpose.REPRODUCTIVE_HEALTH_CARE}),
    )
}
NCIC_LINES = (
    f"{'ABC123':<10}MN2026PC{'V123456789':<10}{'MN0270100':<9}SV20301231\n"
    f"{'IVX900':<10}MN{'':<6}{'I000000001':<10}{'DCICE0000':<9}IV\n"
    f"{'WPN444':<10}WI{'':<6}{'W000000001':<10}{'WI0000000':<9}WP\n"
)


class FakeProducer:
    """Takes every record at once, as an acknowledging broker would."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []

    def produce(self, topic: str, key: bytes, value: bytes | None, **_: Any) -> None:
        self.keys.append(key)

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0


def source(kind: HotlistSourceKind | None, **declared: Any) -> HotlistSource:
    return HotlistSource("l1", "test list", ORI, HotlistCategory.STOLEN_VEHICLE, kind=kind,
                         **declared)  # fmt: skip


def test_an_ncic_extract_names_each_entrys_file_from_its_category_code() -> None:
    report = parse_ncic(NCIC_LINES, source(HotlistSourceKind.NCIC))
    assert report.errors == []
    files = {e.plate: (e.ncic_file, e.category, e.source_kind) for e in report.entries}
    assert files == {
        "ABC123": ("vehicle", HotlistCategory.STOLEN_VEHICLE, "ncic"),
        "IVX900": ("immigration_violator", HotlistCategory.WANTED_PERSON, "ncic"),
        "WPN444": ("wanted_person", HotlistCategory.WANTED_PERSON, "ncic"),
    }
    iv = next(e for e in report.entries if e.plate == "IVX900")
    assert entry_purpose(iv) is ListPurpose.IMMIGRATION_ENFORCEMENT


def test_an_ncic_entry_without_a_file_and_an_investigation_entry_without_a_case_are_refused() -> (
    None
):
    csv = "plate,state,ncic_file\nAAA111,MN,\nBBB222,MN,vehicle\nCCC333,MN,martian\n"
    report = parse_csv(csv, source(HotlistSourceKind.NCIC))
    assert [e.plate for e in report.entries] == ["BBB222"]
    assert "names its NCIC file" in report.errors[0] and "unknown NCIC file" in report.errors[1]
    case_list = "plate,state,case_number\nDDD444,MN,\nEEE555,MN,26-0042\n"
    tied = parse_csv(case_list, source(HotlistSourceKind.INVESTIGATION, case_number="26-0001"))
    assert {e.plate: e.case_number for e in tied.entries} == {
        "DDD444": "26-0001",
        "EEE555": "26-0042",
    }
    untied = parse_csv(case_list, source(HotlistSourceKind.INVESTIGATION))
    assert [e.plate for e in untied.entries] == ["EEE555"] and "case number" in untied.errors[0]


@pytest.mark.parametrize(
    ("declaration", "says"),
    [
        (Declaration("vendor feed"), "is none of these"),
        (Declaration(""), "'none' is none of these"),
        (Declaration("investigation"), "needs its case number"),
        (Declaration("investigation", case_number="x"), "needs its case number"),
        (Declaration("state_file", ncic_file="vehicle"), "only for an NCIC extract"),
        (Declaration("ncic", ncic_file="aliens"), "unknown NCIC file"),
        (
            Declaration("investigation", case_number="26-1", purpose="reproductive_health_care"),
            "barred in this jurisdiction",
        ),
    ],
)
def test_a_declaration_the_law_does_not_allow_is_refused(
    declaration: Declaration, says: str
) -> None:
    with pytest.raises(RequestRefused, match=says):
        checked_declaration(declaration, policy_for(MN_BARS_IV, ORI))


def test_a_policy_is_the_states_and_the_agencys_own() -> None:
    policies = {
        **MN_BARS_IV,
        ORI: JurisdictionPolicy(excluded_ncic_files=frozenset({NcicFile.GANG})),
    }
    gang = HotlistEntry("e", "l", "s", HotlistCategory.WANTED_PERSON, ORI, "GNG1", ncic_file="gang")
    assert excluded_entry(policies, gang) == "NCIC file gang excluded"
    assert excluded_entry(policies, replace(gang, owning_agency_ori="MN0270200")) is None
    assert policy_for(policies, "WI0000000") == JurisdictionPolicy()


def test_an_excluded_ncic_file_is_dropped_and_counted_and_the_rest_loaded(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, jurisdiction_policies=MN_BARS_IV)
    path = tmp_path / "extract.txt"
    path.write_text(NCIC_LINES)
    producer, trail = FakeProducer(), MemoryAuditTrail()
    declared = declared_source(settings, source(None), Declaration("ncic"), user="admin.a",
                               trail=trail)  # fmt: skip
    load = load_hotlist(settings, path, declared, user="admin.a", file_format=HotlistFormat.NCIC,
                        producer=cast(Producer, producer), trail=trail)  # fmt: skip
    assert load.excluded == {"NCIC file immigration_violator excluded": 1}
    assert load.summary == (
        "2 loaded; 1 excluded by policy (NCIC file immigration_violator excluded: 1)"
    )
    assert sorted(producer.keys) == [b"l1:MN:ABC123", b"l1:WI:WPN444"]
    event = trail.events[-1]
    assert (event.action, event.outcome) == (AuditAction.HOTLIST_LOAD, AuditOutcome.SUCCESS)
    assert event.details["excluded_by_policy"] == "1" and event.details["source_kind"] == "ncic"


def test_a_list_tied_to_a_case_is_accepted_with_its_case_and_purpose(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, jurisdiction_policies=MN_BARS_IV)
    path = tmp_path / "case.csv"
    path.write_text("plate,state,category\nSUS001,MN,CUSTOM\n")
    producer, trail = FakeProducer(), MemoryAuditTrail()
    declared = declared_source(settings, source(None), Declaration("investigation",
                               case_number="26-000123"), user="admin.a", trail=trail)  # fmt: skip
    load = load_hotlist(settings, path, declared, user="admin.a", producer=cast(Producer, producer),
                        trail=trail)  # fmt: skip
    assert (load.summary, load.refused, producer.keys) == ("1 loaded", [], [b"l1:MN:SUS001"])
    assert trail.events[-1].details["case_number"] == "26-000123"
    assert trail.events[-1].details["purpose"] == "criminal_investigation"


def test_the_api_refuses_a_load_from_a_source_the_law_does_not_allow_and_audits_it(
    tmp_path: Path,
) -> None:
    api = Api(tmp_path)
    admin = bearer(api.person("admin.c", "MN0270300", Role.AGENCY_ADMIN))
    body = {"list_id": "vendor", "source": "Acme nationwide", "content": "plate\nABC123\n"}
    answer = api.client.post("/v1/hotlists", headers=admin,
                             json={**body, "source_kind": "commercial"})  # fmt: skip
    assert answer.status_code == 400
    assert "13.824 subd. 2(c)" in answer.json()["detail"]
    event = api.trail.events[-1]
    assert (event.action, event.outcome, event.actor) == (
        AuditAction.HOTLIST_LOAD, AuditOutcome.DENIED, "admin.c",
    )  # fmt: skip
    assert event.target_id == "vendor" and "none of these" in event.details["reason"]
    supervisor = bearer(api.person("sup.c", "MN0270300", Role.SUPERVISOR))
    forbidden = api.client.post("/v1/hotlists", headers=supervisor,
                                json={**body, "source_kind": "state_file"})  # fmt: skip
    assert forbidden.status_code == 403  # loading is the agency administrator's alone
