"""The camera registry on the real store, through the CLI as an agency administrator:
a fixed camera registered and moved makes its BCA notices, one is marked filed, each
change is audited, and `lprx transparency report` (as lprx_reader) lists the fixed
locations from the registry."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.cassandra import CassandraStore
from connectors.cassandra.cameras import REGISTRY_TABLES
from pipelines.settings import Settings
from schemas.people import Role
from schemas.records import utcnow
from tests.integration.pipelines.served import Cli, invoke, person, served_api
from tests.integration.pipelines.test_cli_transparency import audit_events

AGENCY = "MN9990100"


def test_a_fixed_camera_registered_moved_and_notified(
    store: CassandraStore, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ks = settings.cassandra_keyspace
    camera = f"hwy7-{uuid.uuid4().hex[:6]}"  # the credentials file may be shared
    today = utcnow().date()
    installed = today - timedelta(days=4)
    with served_api(settings) as url:
        cli = Cli(url, tmp_path, monkeypatch)
        cli.login("adm.cam", person(settings, "adm.cam", AGENCY, Role.AGENCY_ADMIN))
        added = cli("cameras", "add", camera, "--installed", installed.isoformat(),
                    "--latitude", "44.9351", "--longitude", "-93.3344", "--location",
                    "Hwy 7 at Louisiana Ave", "--token-file", str(tmp_path / "t"))  # fmt: skip
        assert added.exit_code == 0, added.output
        assert f"due {installed + timedelta(days=10)}" in added.output
        moved = cli("cameras", "move", camera, "--latitude", "44.95", "--longitude", "-93.30",
                    "--location", "Hwy 7 at Wooddale Ave", "--on", today.isoformat())  # fmt: skip
        assert moved.exit_code == 0, moved.output
        (first,) = [row.notice_id for row in store.session.execute(
            f"SELECT notice_id, reason FROM {ks}.bca_notices WHERE agency_ori = %s", (AGENCY,))
            if row.reason == "INSTALLED"]  # fmt: skip
        listed = cli("cameras", "notices")
        assert listed.exit_code == 0 and "2 pending, 0 overdue" in listed.output, listed.output
        filed = cli("cameras", "notices", "--filed", first, "--reference", "BCA 2026-4471")
        assert filed.exit_code == 0, filed.output
        assert "1 pending" in cli("cameras", "notices").output
        assert "Hwy 7 at Wooddale Ave" in cli("cameras", "list").output
    report = invoke("transparency", "report", "--agency", AGENCY, "--from", today.isoformat(),
                    "--to", today.isoformat(), "--format", "csv")  # fmt: skip
    assert report.exit_code == 0, report.output
    places = [row[2] for row in csv.reader(io.StringIO(report.output)) if row[0] ==
              "fixed_location"]  # fmt: skip
    assert places == [
        f"Hwy 7 at Louisiana Ave (44.93510, -93.33440), {installed} to {today}",
        f"Hwy 7 at Wooddale Ave (44.95000, -93.30000), {today} to now",
    ]
    events = audit_events(settings, lambda e: e.actor == "adm.cam" and e.target_kind in
                          ("camera", "bca_notice") and "change" in e.details)  # fmt: skip
    assert {e.details["change"] for e in events} >= {"registered", "moved", "filed"}
    # The registry holds no read data: no plate, read or image column in its tables.
    columns = {row.column_name for table in REGISTRY_TABLES for row in store.session.execute(
        "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s AND "
        "table_name = %s", (ks, table))}  # fmt: skip
    assert columns and not {"plate", "read_id", "image_ref", "jpeg"} & columns


def test_the_demo_registers_its_cameras_once(store: CassandraStore, settings: Settings) -> None:
    from connectors.cassandra.cameras import CameraRegistry
    from pipelines.demo import register_cameras
    from pipelines.demo.scenario import CAMERAS, FRAME_CAMERA, LAKESIDE
    from pipelines.services.cameras import fixed_locations

    register_cameras(settings)
    register_cameras(settings)  # every demo run: nothing registered twice
    registry = CameraRegistry(store.session, store.keyspace)
    lakeside = [c for c in (*CAMERAS, FRAME_CAMERA) if c.agency is LAKESIDE]
    assert len(registry.cameras(LAKESIDE.ori)) == len(lakeside)
    assert sorted(p.camera_id for p in fixed_locations(registry, LAKESIDE.ori)) == sorted(
        c.camera_id for c in lakeside if c.kind.value == "FIXED"
    )
