"""Which dead letters a replay sends back (``pipelines/services/replay.py``), without Kafka."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.kafka import audit
from connectors.kafka.acls import REPLAY, replay_grants
from pipelines import cli
from pipelines.cli import common
from pipelines.services.replay import ReplayFilter, StoredLetter, plan_replay
from pipelines.settings import Settings
from schemas.records import DeadLetter, utcnow

NOW = utcnow()
INPUTS = {"p.reads.raw", "p.reads"}


def letter(offset: int, stage: str = "store", **values: object) -> StoredLetter:
    fields: dict[str, object] = {
        "dead_letter_id": f"d-{offset}", "occurred_at": NOW, "stage": stage,
        "reason": "Unauthorized: no MODIFY on reads_by_plate", "error_type": "PermanentError",
        "worker": "w", "source_topic": "p.reads", "source_partition": 0,
        "source_offset": offset, "original_key": b"cam-1", "original_value": b"read",
    }  # fmt: skip
    fields.update(values)
    return StoredLetter(0, offset, DeadLetter(**fields))  # type: ignore[arg-type]


def test_a_replay_selects_by_stage_reason_and_time_and_never_twice() -> None:
    letters = [
        letter(0),
        letter(1, stage="normalize", source_topic="p.reads.raw", reason="empty plate"),
        letter(2, occurred_at=NOW - timedelta(hours=2)),
        letter(3),  # replayed before
        letter(4, original_value=None),  # its bytes were too large to keep
        letter(5, stage="ingest", source_topic=None),  # an HTTP body: the camera resends
    ]
    wanted = ReplayFilter(stage="store", reason="unauthorized", since=NOW - timedelta(hours=1))
    plan = plan_replay(letters, {"0:3"}, wanted, INPUTS)
    assert [s.offset for s in plan.selected] == [0]
    assert plan.already_replayed == 1
    assert dict(plan.not_replayable) == {"original bytes not kept": 1}
    everything = plan_replay(letters, {"0:3"}, ReplayFilter(), INPUTS)
    assert [s.offset for s in everything.selected] == [0, 1, 2]
    assert dict(everything.not_replayable) == {
        "original bytes not kept": 1,
        "no pipeline topic to go back to": 1,
    }
    assert dict(everything.by_stage_and_topic()) == {("store", "p.reads"): 2,
                                                     ("normalize", "p.reads.raw"): 1}  # fmt: skip
    assert ReplayFilter(until=NOW).matches(letters[2].letter)
    assert not ReplayFilter(until=NOW).matches(letters[0].letter)


def test_the_replay_principal_reads_letters_and_writes_only_pipeline_inputs() -> None:
    grants = {str(g) for g in replay_grants(Settings(topic_prefix="p"))}
    assert "READ topic p.deadletter (literal)" in grants
    assert "WRITE topic p.reads.raw (literal)" in grants
    assert "WRITE topic p.deadletter.replayed (literal)" in grants
    assert f"READ group {REPLAY}- (prefix)" in grants
    assert not any(g.startswith("WRITE topic p.deadletter ") for g in grants)
    assert not any("hotlist" in g or "agreements" in g or "hits." in g for g in grants)


def test_the_listing_still_answers_without_a_subcommand_and_asks_for_a_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The listing goes through the API as the logged-in person: without a login, none.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(audit, "AuditTrail", lambda *_args: audit.MemoryAuditTrail())
    monkeypatch.setattr(common, "settings", lambda: Settings(topic_prefix="p"))
    runner = CliRunner()
    refused = runner.invoke(cli.app, ["deadletters"])
    assert refused.exit_code == 1 and "not logged in" in refused.output
    dry = runner.invoke(cli.app, ["deadletters", "replay", "--purpose", "incident 26-77",
                                  "--since", "2026-12-01"])  # fmt: skip
    assert dry.exit_code == 1 and "give a time zone" in dry.output
