"""`lprx partner hits` with the API call faked: a hit that may be a misread says so."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.cli import app, partner


def test_a_hit_needing_verification_is_marked(monkeypatch: pytest.MonkeyPatch) -> None:
    def row(hit_id: str, plate: str, needs_verification: bool | None) -> dict[str, Any]:
        return {
            "matched_at": "2026-12-01T10:00:00.000", "hit_id": hit_id, "plate": plate,
            "category": "STOLEN_VEHICLE", "agency_ori": "MN9990001", "camera_id": "cam-1",
            "expires_at": "2027-01-30T10:00:00", "needs_verification": needs_verification,
        }  # fmt: skip

    hits = [row("hit-aaaa1", "ABC123", True), row("hit-bbbb2", "XYZ789", False),
            row("hit-cccc3", "OLD111", None)]  # fmt: skip
    monkeypatch.setattr(partner, "call", lambda *args, **kwargs: hits)
    outcome = CliRunner().invoke(app, ["partner", "hits"], env={"COLUMNS": "200"})
    assert outcome.exit_code == 0, outcome.output
    lines = {plate: line for line in outcome.output.splitlines()
             for plate in ("ABC123", "XYZ789", "OLD111") if plate in line}  # fmt: skip
    assert "VERIFY" in lines["ABC123"]
    assert "VERIFY" not in lines["XYZ789"] and "VERIFY" not in lines["OLD111"]
