"""Faust table changelogs of this topic prefix: found by name, their settings kept in
line, and deleted on request once their app is gone.

A worker's app id is ``<topic prefix>-<stages>`` and its tables' changelogs are
``<app id>-<table>-changelog``; a worker started with other stages is a new app, and the
changelogs of the old one are left behind. Every changelog has the bounded settings of
``topics.bounded_compacted_config`` (a left-behind one empties itself within the
transport bound); ``delete_app_changelogs`` removes one for good.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from connectors.kafka.config import KafkaConfig
from connectors.kafka.topics import TopicSpec, admin_client, bounded_compacted_config, ensure_topics
from schemas.errors import ConfigurationError

GROUP_DESCRIBE_WAIT_S = 30.0
# librdkafka does not mark these retriable on a group describe, though each only means
# "the coordinator is not ready yet" (a broker just started or moved its groups).
COORDINATOR_NOT_READY = frozenset(
    {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
    }
)


@dataclass(frozen=True)
class Changelog:
    topic: str
    app_id: str
    table: str


def changelogs_among(
    names: Iterable[str], prefix: str, tables: Sequence[str], stages: Sequence[str]
) -> list[Changelog]:
    """The changelog topics among ``names`` of an app of this prefix (its stages known
    names, so ``lprx`` does not claim the topics of a prefix ``lprx-test``)."""
    found = []
    for name in names:
        for table in tables:
            suffix = f"-{table}-changelog"
            if not (name.startswith(f"{prefix}-") and name.endswith(suffix)):
                continue
            app_stages = name[len(prefix) + 1 : -len(suffix)].split("-")
            if app_stages and set(app_stages) <= set(stages):
                found.append(Changelog(name, name[: -len(suffix)], table))
    return sorted(found, key=lambda c: c.topic)


def find_changelogs(
    settings: KafkaConfig, tables: Sequence[str], stages: Sequence[str]
) -> list[Changelog]:
    admin = admin_client(settings)
    names = admin.list_topics(timeout=15).topics
    return changelogs_among(names, settings.topic_prefix, tables, stages)


def align_changelogs(settings: KafkaConfig, changelogs: Sequence[Changelog]) -> None:
    """Gives existing changelogs the bounded settings (a changelog Faust made before
    they existed, or a changed bound). Creates nothing: Faust makes a new app's own."""
    config = bounded_compacted_config(settings)
    specs = [TopicSpec(c.topic, settings.topic_partitions, config) for c in changelogs]
    ensure_topics(settings, specs, align=True)


def app_has_members(admin: AdminClient, app_id: str) -> bool:
    """Whether a worker of this app (its consumer group) is running now. A coordinator
    still loading its groups (just after a broker start) is asked again, for up to
    ``GROUP_DESCRIBE_WAIT_S``."""
    deadline = time.monotonic() + GROUP_DESCRIBE_WAIT_S
    while True:
        try:
            described = admin.describe_consumer_groups([app_id])[app_id].result()
        except KafkaException as error:
            kafka_error = error.args[0]
            not_ready = kafka_error.retriable() or kafka_error.code() in COORDINATOR_NOT_READY
            if not not_ready or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
            continue
        return described.state not in (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD)


def delete_app_changelogs(
    settings: KafkaConfig, app_id: str, tables: Sequence[str], stages: Sequence[str]
) -> list[str]:
    """Deletes the changelogs of an app no worker runs (refused while one does: it
    would lose its state); returns the topics deleted."""
    admin = admin_client(settings)
    if app_has_members(admin, app_id):
        raise ConfigurationError(f"workers of {app_id} are running; stop them first")
    doomed = [c.topic for c in find_changelogs(settings, tables, stages) if c.app_id == app_id]
    if not doomed:
        return []
    for topic, future in admin.delete_topics(doomed, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as error:
            raise ConfigurationError(f"could not delete {topic}: {error}") from error
    return doomed
