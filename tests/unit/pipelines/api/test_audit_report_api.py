"""`POST /v1/audit/report`: an auditor's own agency only, bad rules a 4xx, the export
audited."""

from __future__ import annotations

from pathlib import Path

from schemas.people import Role
from schemas.records import AuditOutcome
from tests.unit.pipelines.api.harness import NOW, Api, B, C, bearer
from tests.unit.pipelines.api.test_cameras_api import NoFigures

DAY = NOW.strftime("%Y-%m-%d")


def test_an_auditor_exports_its_own_agency_only(tmp_path: Path) -> None:
    api = Api(tmp_path)
    api.services.usage = NoFigures()
    api.services.chain = NoFigures()  # type: ignore[assignment]
    auditor = bearer(api.person("aud.x", C, Role.AUDITOR))
    body = {"agency_ori": C, "from_day": DAY, "to_day": DAY}
    done = api.client.post("/v1/audit/report", headers=auditor, json=body)
    assert done.status_code == 200, done.text
    assert done.json()["summary"]["generated_by"] == "aud.x"
    assert api.trail.events[-1].details["results"] == "0"  # the export's own audit
    other = api.client.post("/v1/audit/report", headers=auditor, json={**body, "agency_ori": B})
    assert other.status_code == 403
    assert api.trail.events[-1].outcome is AuditOutcome.DENIED
    for bad in ({"timezone": "America"}, {"timezone": "../etc"}, {"to_day": "2099-01-01"},
                {"repeat_threshold": 1}):  # fmt: skip
        assert api.client.post("/v1/audit/report", headers=auditor,
                               json={**body, **bad}).status_code == 422  # fmt: skip
    investigator = bearer(api.person("inv.x", C, Role.INVESTIGATOR))
    assert api.client.post("/v1/audit/report", headers=investigator, json=body).status_code == 403
