"""Who each lprx process is, and the provisioning that `lprx setup` does.

Every command logs in as its own role unless the settings name one
(``LPRX_KAFKA_PRINCIPAL``, ``LPRX_CASSANDRA_USERNAME``):

==========  ==================  ==================  ===================================
role        Kafka principal     Cassandra role      used by
==========  ==================  ==================  ===================================
setup       lprx-admin          lprx_admin          setup, ``lprx partners add|revoke``
worker      lprx-worker         lprx_writer         ``lprx worker`` (any stages)
ocr         lprx-ocr            lprx_writer         ``lprx worker --stages ocr``
ingest      lprx-ingest         -                   ``lprx ingest``, ``lprx frames``
reader      lprx-admin          lprx_reader         audited look-ups (reads, audit,
                                                    dead letters)
api         lprx-api            lprx_api            ``lprx api`` (people, sessions,
                                                    scoped look-ups, agreements,
                                                    hotlists; no topic, user or ACL)
replay      lprx-replay         -                   ``lprx deadletters replay``
partner     partner-<ORI>       lprx_reader         ``lprx partner hits|dispose``
custodian   lprx-admin          lprx_custodian      ``lprx holds`` (rewrites held reads'
                                                    TTLs; audited through the topic)
checkpoint  lprx-checkpoint     lprx_checkpoint     ``lprx audit checkpoint`` (chain
                                                    heads in, checkpoints and their
                                                    audit events out)
==========  ==================  ==================  ===================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from connectors.cassandra import security as cassandra
from connectors.kafka import acls
from connectors.kafka.acls import Grant
from connectors.kafka.changelogs import Changelog, align_changelogs, find_changelogs
from connectors.kafka.topics import admin_client, core_topics, ensure_topics
from pipelines.settings import Settings

# The Faust tables of the pipeline app (pipelines/runtime/); their changelog topics are
# named "<app id>-<table>-changelog". A unit test checks the app declares exactly these.
FAUST_TABLES = ("dedup-vehicle-passes",)
# Tables no worker declares any more, whose changelogs a deployment may still hold: found,
# kept in line and deletable like the others (share's memory was the Faust table
# ``hit-alerts`` before it became the transactional loop's ``<prefix>.hit-alerts``).
RETIRED_FAUST_TABLES = ("hit-alerts",)
CHANGELOG_TABLES = FAUST_TABLES + RETIRED_FAUST_TABLES
# The stages a worker may run, in app-id order: an app id is "<prefix>-<its stages
# joined by '-'>" (pipelines/runtime/app.py).
PIPELINE_STAGES = ("ocr", "normalize", "match", "share", "store")
# The topics each stage's Faust agents consume under the app's consumer group, and its
# Faust tables: what ``lprx workers regroup`` carries over when a stage moves to another
# app. Share has its own group (``<prefix>-share``) whichever app runs it. A unit test
# checks the apps consume and declare exactly these.
STAGE_SOURCES: dict[str, tuple[str, ...]] = {
    "ocr": ("frames",),
    "normalize": ("reads.raw", "dedup-ticks"),
    "match": ("reads.normalized", "hotlist"),
    "share": (),
    "store": ("reads", "hits", "audit", "dispositions"),
}
STAGE_TABLES: dict[str, tuple[str, ...]] = {"normalize": FAUST_TABLES}


def app_id(settings: Settings, stages: Iterable[str]) -> str:
    """The Faust app id of a worker of ``stages``: its consumer group, the prefix of its
    changelogs. Stages are named in ``PIPELINE_STAGES`` order, whatever order given."""
    chosen = set(stages)
    unknown = chosen - set(PIPELINE_STAGES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; known: {PIPELINE_STAGES}")
    return f"{settings.topic_prefix}-{'-'.join(s for s in PIPELINE_STAGES if s in chosen)}"


class Role(StrEnum):
    SETUP = "setup"
    WORKER = "worker"
    OCR = "ocr"
    INGEST = "ingest"
    READER = "reader"
    REPLAY = "replay"
    CUSTODIAN = "custodian"
    API = "api"
    CHECKPOINT = "checkpoint"


KAFKA_PRINCIPALS = {
    Role.SETUP: acls.ADMIN,
    Role.WORKER: acls.WORKER,
    Role.OCR: acls.OCR,
    Role.INGEST: acls.INGEST,
    Role.READER: acls.ADMIN,
    Role.REPLAY: acls.REPLAY,
    Role.CUSTODIAN: acls.ADMIN,
    # Agreements, hotlists and dispositions only: a partner's Kafka user is the
    # operator's (`lprx partners add`, as setup).
    Role.API: acls.API,
    Role.CHECKPOINT: acls.CHECKPOINT,
}
CASSANDRA_ROLES = {
    Role.SETUP: cassandra.ADMIN_ROLE,
    Role.WORKER: cassandra.WRITER_ROLE,
    Role.OCR: cassandra.WRITER_ROLE,
    Role.INGEST: None,
    Role.READER: cassandra.READER_ROLE,
    Role.REPLAY: None,
    Role.CUSTODIAN: cassandra.CUSTODIAN_ROLE,
    Role.API: cassandra.API_ROLE,
    Role.CHECKPOINT: cassandra.CHECKPOINT_ROLE,
}


def _with(settings: Settings, principal: str, cassandra_role: str | None) -> Settings:
    update: dict[str, str] = {}
    if not settings.kafka_principal:
        update["kafka_principal"] = principal
    if not settings.cassandra_username and cassandra_role:
        update["cassandra_username"] = cassandra_role
    return settings.model_copy(update=update) if update else settings


def as_role(settings: Settings, role: Role) -> Settings:
    """``settings`` for a process of ``role``: its principal and Cassandra role, unless
    the settings name them."""
    named = _with(settings, KAFKA_PRINCIPALS[role], CASSANDRA_ROLES[role])
    if role is Role.API:
        # Its client ids and followers' groups start with its principal, the only
        # groups its ACLs allow (connectors/kafka/acls.py).
        return named.model_copy(update={"worker_id": acls.API})
    return named


def worker_role(stages: list[str]) -> Role:
    """A worker that runs OCR only is the OCR service; any other is the pipeline worker."""
    return Role.OCR if set(stages) == {"ocr"} else Role.WORKER


def as_partner(settings: Settings, agency_ori: str) -> Settings:
    """``settings`` of a partner agency's client (its own hit topic, dispositions)."""
    return _with(settings, acls.partner_principal(agency_ori), cassandra.READER_ROLE)


@dataclass(frozen=True)
class Provisioned:
    topics_created: list[str]
    grants: dict[str, list[Grant]]
    changelogs: list[Changelog]


def provision(settings: Settings) -> Provisioned:
    """What ``lprx setup`` makes, as the setup principal and schema owner (idempotent):
    the topics, the services' Kafka users and ACLs for this topic prefix, the services'
    Cassandra roles, the keyspace and tables, the audit trigger and the grants. Existing
    topics, Faust changelogs of this prefix, tables and the keyspace get the settings'
    retention and replication; the changelogs found are returned, so left-behind ones
    can be named (and deleted: ``lprx retention delete-changelogs``)."""
    from connectors.cassandra import connect, ensure_schema
    from connectors.cassandra.roles import ensure_service_roles, secure_keyspace

    admin_settings = as_role(settings, Role.SETUP)
    created = ensure_topics(admin_settings, core_topics(admin_settings))
    grants = acls.provision_services(admin_client(admin_settings), admin_settings, FAUST_TABLES)
    changelogs = find_changelogs(admin_settings, CHANGELOG_TABLES, PIPELINE_STAGES)
    align_changelogs(admin_settings, changelogs)
    cluster, session = connect(admin_settings)
    try:
        ensure_service_roles(session, admin_settings)
        ensure_schema(session, admin_settings)
        secure_keyspace(session, admin_settings.cassandra_keyspace)
    finally:
        cluster.shutdown()
    return Provisioned(created, grants, changelogs)


def add_partner(settings: Settings, agency_ori: str) -> Path:
    """A partner's credentials and ACLs (its hit topic too); its properties file."""
    from connectors.kafka.topics import partner_topic

    admin_settings = as_role(settings, Role.SETUP)
    ensure_topics(admin_settings, [partner_topic(admin_settings, agency_ori)])
    return acls.add_partner(admin_client(admin_settings), admin_settings, agency_ori)


def revoke_partner(settings: Settings, agency_ori: str) -> None:
    admin_settings = as_role(settings, Role.SETUP)
    acls.revoke_partner(admin_client(admin_settings), admin_settings, agency_ori)
