"""The camera registry through the API (13.824 subd. 8): a new or moved fixed camera
makes the BCA notice due in ten days, the administrator lists and files it, every change
is audited, and the public log of use lists the fixed locations from the registry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.people import Role
from tests.unit.pipelines.api.harness import NOW, Api, C, bearer

HWY7 = {"latitude": 44.9351, "longitude": -93.3344, "location": "Hwy 7 at Louisiana Ave"}


class NoFigures:
    """Usage counters and an audit trail with nothing in them: the page's other parts."""

    def camera_hours(self, *_: object) -> list[Any]:
        return []

    def hit_counts(self, *_: object) -> list[Any]:
        return []

    def event_rows(self, _day: str) -> list[Any]:
        return []


@pytest.fixture
def api(tmp_path: Path) -> Api:
    api = Api(tmp_path)
    api.services.usage = NoFigures()
    api.services.chain = NoFigures()  # type: ignore[assignment]
    return api


def test_a_fixed_camera_is_registered_moved_and_its_notices_filed(api: Api) -> None:
    admin = bearer(api.person("admin.r", C, Role.AGENCY_ADMIN))
    installed = (NOW - timedelta(days=3)).date()
    unplaced = api.client.post("/v1/cameras", headers=admin, json={"camera_id": "hwy7"})
    assert unplaced.status_code == 400 and "latitude" in unplaced.text
    assert api.client.get("/v1/cameras", headers=admin).json() == []  # no credential made
    added = api.client.post("/v1/cameras", headers=admin, json={
        "camera_id": "hwy7", "installed_on": installed.isoformat(), **HWY7})  # fmt: skip
    assert added.status_code == 200, added.text
    assert added.json()["notice_due_on"] == (installed + timedelta(days=10)).isoformat()
    registered = api.trail.events[-1]
    assert (registered.target_id, registered.details["change"]) == ("hwy7", "registered")
    assert registered.details["location"] == HWY7["location"]
    moved_on = NOW.date()
    moved = api.client.post("/v1/cameras/hwy7/move", headers=admin, json={
        "latitude": 44.95, "longitude": -93.30, "location": "Hwy 7 at Wooddale Ave",
        "moved_on": moved_on.isoformat()})  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert moved.json()["reason"] == "MOVED"
    assert moved.json()["due_on"] == (moved_on + timedelta(days=10)).isoformat()
    assert api.trail.events[-1].details["change"] == "moved"
    pending = api.client.get("/v1/camera-notices", headers=admin).json()
    assert [n["reason"] for n in pending] == ["INSTALLED", "MOVED"]  # soonest due first
    first = pending[0]["notice_id"]
    filed = api.client.post(f"/v1/camera-notices/{first}/filed", headers=admin,
                            json={"reference": "BCA receipt 2026-4471"})  # fmt: skip
    assert filed.status_code == 200 and filed.json()["filed_by"] == "admin.r"
    assert api.trail.events[-1].target_kind == "bca_notice"
    again = api.client.post(f"/v1/camera-notices/{first}/filed", headers=admin,
                            json={"reference": "again"})  # fmt: skip
    assert again.status_code == 400
    assert len(api.client.get("/v1/camera-notices", headers=admin).json()) == 1
    assert len(api.client.get("/v1/camera-notices?all=true", headers=admin).json()) == 2
    listed = api.client.get("/v1/cameras", headers=admin).json()
    assert listed[0]["location"]["description"] == "Hwy 7 at Wooddale Ave"
    day = NOW.strftime("%Y-%m-%d")
    page = api.client.get("/public/transparency",
                          params={"agency": C, "from": day, "to": day, "format": "csv"})  # fmt: skip
    assert page.status_code == 200
    assert (f"Hwy 7 at Louisiana Ave (44.93510, -93.33440), {installed} to {moved_on}"
            in page.text)  # fmt: skip
    assert f"Hwy 7 at Wooddale Ave (44.95000, -93.30000), {moved_on} to now" in page.text


def test_only_a_fixed_camera_moves_and_notices_are_the_admins(api: Api) -> None:
    admin = bearer(api.person("admin.s", C, Role.AGENCY_ADMIN))
    squad = api.client.post("/v1/cameras", headers=admin,
                            json={"camera_id": "sq-12", "kind": "SQUAD_CAR"})  # fmt: skip
    assert squad.status_code == 200  # a new mobile reader is notified too
    placed = api.client.post("/v1/cameras", headers=admin,
                             json={"camera_id": "sq-13", "kind": "SQUAD_CAR", **HWY7})  # fmt: skip
    assert placed.status_code == 400
    move = api.client.post("/v1/cameras/sq-12/move", headers=admin,
                           json={**HWY7, "moved_on": NOW.date().isoformat()})  # fmt: skip
    assert move.status_code == 400 and "only a fixed camera" in move.text
    assert api.client.post("/v1/cameras/nope/move", headers=admin, json=HWY7).status_code == 404
    investigator = bearer(api.person("inv.s", C, Role.INVESTIGATOR))
    assert api.client.get("/v1/camera-notices", headers=investigator).status_code == 403
    future = api.client.post("/v1/cameras", headers=admin, json={
        "camera_id": "fx-9", "installed_on": (NOW + timedelta(days=2)).date().isoformat(),
        **HWY7})  # fmt: skip
    assert future.status_code == 400
    assert api.client.delete("/v1/cameras/sq-12", headers=admin).status_code == 200
    assert api.trail.events[-1].details["retired_on"] == NOW.date().isoformat()


def test_a_camera_from_before_the_registry_is_registered_with_its_credentials_kind(
    api: Api,
) -> None:
    from connectors.ingest.credentials import CredentialFile
    from schemas.records import CameraKind

    admin = bearer(api.person("admin.u", C, Role.AGENCY_ADMIN))
    CredentialFile(api.settings.camera_credentials_path).add(C, "old-7", CameraKind.FIXED)
    day = (NOW - timedelta(days=400)).date().isoformat()
    unplaced = api.client.post("/v1/cameras/old-7/register", headers=admin,
                               json={"installed_on": day})  # fmt: skip
    assert unplaced.status_code == 400  # a fixed camera needs its place
    done = api.client.post("/v1/cameras/old-7/register", headers=admin,
                           json={"installed_on": day, **HWY7})  # fmt: skip
    assert done.status_code == 200 and done.json()["overdue"] is True
    assert api.client.post("/v1/cameras/old-7/register", headers=admin,
                           json={"installed_on": day, **HWY7}).status_code == 400  # fmt: skip
    assert api.client.post("/v1/cameras/none/register", headers=admin,
                           json={"installed_on": day}).status_code == 404  # fmt: skip
