"""The Faust app's wiring of settings (built, not started: no servers needed)."""

from __future__ import annotations

from pathlib import Path

from pipelines.app import Pipeline
from pipelines.settings import Settings
from pipelines.stages.match import match_read
from tests.factories import NOW, a_read, an_entry


def pipeline(tmp_path: Path, **settings: object) -> Pipeline:
    # Built, never connected: no credentials needed (tests/unit/test_security.py checks
    # the app's SCRAM credentials).
    return Pipeline(
        Settings(
            table_store="memory://",
            table_data_dir=tmp_path,
            kafka_security_protocol="PLAINTEXT",
            **settings,  # type: ignore[arg-type]
        )
    )


def test_edit_distance_zero_turns_one_edit_hits_off(tmp_path: Path) -> None:
    exact_only = pipeline(tmp_path / "a", match_max_edit_distance=0).hotlist
    default = pipeline(tmp_path / "b").hotlist
    for index in (exact_only, default):
        index.put(an_entry(plate="ABC1234"))
    one_edit = a_read(plate="ABC1235")
    assert match_read(one_edit, exact_only, NOW) is None
    assert match_read(one_edit, default, NOW) is not None
    assert match_read(a_read(plate="A8C1234"), exact_only, NOW) is not None  # confusable


def test_dedup_policy_follows_the_settings(tmp_path: Path) -> None:
    policy = pipeline(tmp_path, dedup_settle_seconds=0.5, dedup_weight_fits_format=2.0).dedup_policy
    assert policy.settle_seconds == 0.5
    assert policy.weights.fits_format == 2.0
