"""Which topics are the Faust changelogs of a prefix, and their bounded settings."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException

from connectors.kafka import changelogs
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


class _Described:
    def __init__(self, outcomes: list[object]) -> None:
        self.outcomes = outcomes

    def result(self) -> object:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, KafkaException):
            raise outcome
        return outcome


class _GroupAdmin:
    """Answers a group describe with the outcomes given, one per call."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def describe_consumer_groups(self, ids: list[str]) -> dict[str, _Described]:
        self.calls += 1
        return {ids[0]: _Described(self.outcomes)}


def _group(state: ConsumerGroupState) -> SimpleNamespace:
    return SimpleNamespace(state=state)


def test_a_coordinator_still_loading_its_groups_is_asked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("connectors.kafka.changelogs.time.sleep", lambda _s: None)
    loading = KafkaException(KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))
    admin = _GroupAdmin(loading, loading, _group(ConsumerGroupState.STABLE))
    assert changelogs.app_has_members(admin, "lprx-share") is True  # type: ignore[arg-type]
    assert admin.calls == 3
    empty = _GroupAdmin(loading, _group(ConsumerGroupState.EMPTY))
    assert changelogs.app_has_members(empty, "lprx-share") is False  # type: ignore[arg-type]


def test_a_refused_group_describe_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connectors.kafka.changelogs.time.sleep", lambda _s: None)
    denied = KafkaException(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED))
    admin = _GroupAdmin(denied, _group(ConsumerGroupState.STABLE))
    with pytest.raises(KafkaException):
        changelogs.app_has_members(admin, "lprx-share")  # type: ignore[arg-type]
    assert admin.calls == 1
