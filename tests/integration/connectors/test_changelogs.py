"""Setup keeps the Faust changelogs of its prefix in line, and the retention commands
list them and delete those of an app no longer run, against a real Kafka broker."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.kafka.topics import TopicSpec, admin_client, bounded_compacted_config, ensure_topics
from pipelines import cli
from pipelines.cli import common
from pipelines.settings import Settings
from tests.conftest import wait_for
from tests.integration.connectors.test_topics import topic_configs


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200"})


def test_setup_bounds_old_changelogs_and_deletes_those_of_an_app_gone(
    kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "settings", lambda: kafka_settings)
    old_app = f"{kafka_settings.topic_prefix}-normalize"
    changelog = f"{old_app}-dedup-vehicle-passes-changelog"
    # As Faust made changelogs before lprx bounded them: compacted, kept for ever.
    ensure_topics(kafka_settings, [TopicSpec(changelog, 1, {"cleanup.policy": "compact"})])

    setup = invoke("setup")
    assert setup.exit_code == 0, setup.output
    assert old_app in setup.output
    wanted = bounded_compacted_config(kafka_settings)
    wait_for(
        lambda: all(topic_configs(kafka_settings, changelog)[k] == v for k, v in wanted.items()),
        15,
        "the changelog's bounded settings",
    )

    listed = invoke("retention", "changelogs")
    assert listed.exit_code == 0, listed.output
    (line,) = [line for line in listed.output.splitlines() if changelog in line]
    assert line.split("│")[-2].strip() == "no"  # no worker of that app runs

    deleted = invoke("retention", "delete-changelogs", old_app)
    assert deleted.exit_code == 0, deleted.output
    assert changelog in deleted.output
    wait_for(
        lambda: changelog not in admin_client(kafka_settings).list_topics(timeout=10).topics,
        15,
        "the changelog deleted",
    )
