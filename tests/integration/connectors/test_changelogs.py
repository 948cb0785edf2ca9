"""Setup keeps the Faust changelogs of its prefix in line, and deletes those of an app no
longer run, against a real Kafka broker."""

from __future__ import annotations

from connectors.kafka.changelogs import delete_app_changelogs
from connectors.kafka.topics import TopicSpec, admin_client, bounded_compacted_config, ensure_topics
from pipelines.access import FAUST_TABLES, PIPELINE_STAGES, provision
from pipelines.settings import Settings
from tests.conftest import wait_for
from tests.integration.connectors.test_topics import topic_configs


def test_setup_bounds_old_changelogs_and_deletes_those_of_an_app_gone(
    kafka_settings: Settings,
) -> None:
    old_app = f"{kafka_settings.topic_prefix}-normalize"
    changelog = f"{old_app}-dedup-vehicle-passes-changelog"
    # As Faust made changelogs before lprx bounded them: compacted, kept for ever.
    ensure_topics(kafka_settings, [TopicSpec(changelog, 1, {"cleanup.policy": "compact"})])

    done = provision(kafka_settings)
    assert [(c.topic, c.app_id) for c in done.changelogs] == [(changelog, old_app)]
    wanted = bounded_compacted_config(kafka_settings)
    wait_for(
        lambda: all(topic_configs(kafka_settings, changelog)[k] == v for k, v in wanted.items()),
        15,
        "the changelog's bounded settings",
    )

    assert delete_app_changelogs(kafka_settings, old_app, FAUST_TABLES, PIPELINE_STAGES) == [
        changelog
    ]
    wait_for(
        lambda: changelog not in admin_client(kafka_settings).list_topics(timeout=10).topics,
        15,
        "the changelog deleted",
    )
