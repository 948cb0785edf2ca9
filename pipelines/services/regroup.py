"""Moving stages from one worker app to others (``lprx workers regroup``).

A worker's app id names its consumer group and its tables' changelogs after its stages,
so a deployment that splits ``normalize,match,share,store`` into ``normalize,match,share``
and ``store`` (the chart's default since the store got a process of its own) starts
apps with no offsets and no dedup state. With every worker of the old app and of the new
ones stopped, ``regroup`` gives each new app the old app's committed offsets on the
topics its stages consume (``STAGE_SOURCES``), and copies the old app's changelogs of
its stages' tables into its own (``STAGE_TABLES``): the new workers go on where the old
ones stopped, their held passes included. The old app's changelogs stay behind, and
empty themselves within the transport bound (or ``lprx retention delete-changelogs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import TopicPartition

from connectors.kafka.changelogs import app_has_members
from connectors.kafka.regroup import commit_offsets, copy_changelog, offsets_to_adopt
from connectors.kafka.topics import TopicSpec, admin_client, bounded_compacted_config
from pipelines.access import STAGE_SOURCES, STAGE_TABLES, app_id
from pipelines.settings import Settings
from schemas.errors import ConfigurationError


@dataclass
class Regrouped:
    """Per new app id: the offsets it adopted, and records copied per changelog."""

    offsets: dict[str, list[TopicPartition]] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)


def changelog_topic(app: str, table: str) -> str:
    """Faust's name for a table's changelog."""
    return f"{app}-{table}-changelog"


def check_split(former: Sequence[str], into: Sequence[Sequence[str]]) -> None:
    """Each stage of ``former`` in exactly one new set, and no stage from elsewhere."""
    if not into:
        raise ConfigurationError("name the new stage sets (--into, one per app)")
    placed = [stage for stages in into for stage in set(stages)]
    doubled = sorted({s for s in placed if placed.count(s) > 1})
    if doubled:
        raise ConfigurationError(f"stages {doubled} are in more than one new set")
    if set(placed) != set(former):
        missing, extra = set(former) - set(placed), set(placed) - set(former)
        raise ConfigurationError(
            f"the new sets must hold the stages of {','.join(former)} exactly "
            f"(missing {sorted(missing)}, not in it {sorted(extra)})"
        )


def regroup(settings: Settings, former: Sequence[str], into: Sequence[Sequence[str]]) -> Regrouped:
    """Carries the offsets and table changelogs of ``former``'s app over to the apps of
    ``into``; refused while a worker of any of them runs (its commits and changelog
    writes would race the copy). Run again, it adopts and copies nothing more."""
    check_split(former, into)
    old = app_id(settings, former)
    new = {app_id(settings, stages): list(stages) for stages in into}
    if old in new:
        raise ConfigurationError(f"{old} is already the app of that stage set")
    admin = admin_client(settings)
    running = [app for app in (old, *new) if app_has_members(admin, app)]
    if running:
        raise ConfigurationError(f"workers of {', '.join(running)} are running; stop them first")
    done = Regrouped()
    adopting: dict[str, list[TopicPartition]] = {}
    for app, stages in new.items():
        sources = [settings.topic(t) for stage in stages for t in STAGE_SOURCES[stage]]
        adopting[app] = [
            tp for topic in sources for tp in offsets_to_adopt(settings, old, app, topic)
        ]
    # The copies before the commits: a copy that fails leaves the new app without
    # offsets. A changelog that holds records already is a copy made before (the
    # offsets adopted then: nothing to adopt now) or the new app's own state: kept.
    config = bounded_compacted_config(settings)
    for app, stages in new.items():
        for table in (t for stage in stages for t in STAGE_TABLES.get(stage, ())):
            target = TopicSpec(changelog_topic(app, table), settings.topic_partitions, config)
            copied = copy_changelog(settings, changelog_topic(old, table), target)
            if copied is None and adopting[app]:
                raise ConfigurationError(
                    f"{target.name} holds records, but {app} has offsets to adopt: a copy "
                    "that failed part way? Delete it (`lprx retention delete-changelogs "
                    f"{app}`) and run this again"
                )
            done.copied[target.name] = copied or 0
    for app, offsets in adopting.items():
        commit_offsets(settings, app, offsets)
        done.offsets[app] = offsets
    return done
