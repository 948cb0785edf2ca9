"""Which topics are the Faust changelogs of a prefix, and their bounded settings."""

from __future__ import annotations

from connectors.kafka.changelogs import changelogs_among
from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import bounded_compacted_config
from pipelines.access import CHANGELOG_TABLES, PIPELINE_STAGES

HOUR_MS = 3600 * 1000


def test_changelogs_of_a_prefix_are_found_by_app_and_table() -> None:
    names = [
        "lprx-normalize-dedup-vehicle-passes-changelog",
        "lprx-ocr-normalize-match-share-store-hit-alerts-changelog",
        "lprx-share-hit-alerts-changelog",
        "lprx.reads",  # not a changelog
        "lprx-test-normalize-dedup-vehicle-passes-changelog",  # prefix "lprx-test"
        "other-share-hit-alerts-changelog",
        "lprx-share-something-else-changelog",
    ]
    found = changelogs_among(names, "lprx", CHANGELOG_TABLES, PIPELINE_STAGES)
    assert [(c.app_id, c.table) for c in found] == [
        ("lprx-normalize", "dedup-vehicle-passes"),
        ("lprx-ocr-normalize-match-share-store", "hit-alerts"),
        ("lprx-share", "hit-alerts"),
    ]
    found = changelogs_among(names, "lprx-test", CHANGELOG_TABLES, PIPELINE_STAGES)
    assert [c.app_id for c in found] == ["lprx-test-normalize"]


def test_a_changelog_keeps_nothing_past_the_transport_bound() -> None:
    config = bounded_compacted_config(KafkaConfig(topic_min_insync_replicas=2))
    assert config["cleanup.policy"] == "compact,delete"
    assert config["retention.ms"] == str(24 * HOUR_MS)
    assert config["max.compaction.lag.ms"] == config["delete.retention.ms"] == str(HOUR_MS)
    assert config["min.insync.replicas"] == "2"
    # Never more than the longest retention (a one-day agency rule, a 72 h transport bound).
    short = bounded_compacted_config(KafkaConfig(retention_days=1, topic_read_retention_hours=72))
    assert short["retention.ms"] == str(24 * HOUR_MS)
