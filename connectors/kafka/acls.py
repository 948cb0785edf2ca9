"""Kafka principals of lprx, the ACLs each one needs (and nothing more), and the
functions that provision and revoke them.

The broker denies whatever no ACL allows (``allow.everyone.if.no.acl.found=false``);
``lprx-broker`` and ``lprx-admin`` are its super users. Everyone else gets exactly the
grants below, for one deployment's topic prefix ``P`` (topic ``P.<name>``):

=================  ==============================================================
``lprx-ingest``    write ``reads.raw``, ``frames``, ``audit``, ``deadletter``
``lprx-ocr``       read ``frames``; write ``reads.raw``, ``deadletter``, ``audit``;
                   its Faust app ``P-ocr``: group and table changelogs (literal)
``lprx-worker``    read and write the pipeline's topics; create and write partner
                   hit topics (prefix ``P.hits.``); its Faust apps (prefix ``P-``):
                   groups, changelogs (create, read, write; never delete or alter);
                   follower and hole-reader groups (prefix ``<worker_id>-``); the share stage's
                   transactional ids (prefix ``P-share-``: describe, write) and its
                   state topic ``hit-alerts``
``lprx-replay``    read ``deadletter`` and ``deadletter.replayed`` (its own groups,
                   prefix ``lprx-replay-``); write the pipeline's input topics,
                   ``deadletter.replayed`` and ``audit`` (``lprx deadletters replay``)
``lprx-api``       ``lprx api``: write ``agreements``, ``hotlist``, ``dispositions``,
                   ``audit``; read ``agreements`` and ``hotlist`` (it follows them) and
                   ``deadletter`` (the operator's list), in its own groups (prefix
                   ``lprx-api-``); never creates a topic, a user or an ACL
``lprx-checkpoint`` ``lprx audit checkpoint``: write ``audit`` only (each signing
                   is audited); reads nothing
``partner-<ORI>``  read ``hits.<ORI>`` only, with its own groups (``partner-<ORI>``,
                   prefix ``partner-<ORI>-``); write ``dispositions`` only
=================  ==============================================================

Passwords are generated into ``<cache_dir>/secrets/kafka/<principal>.password`` (0600);
a partner also gets a ready librdkafka properties file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from connectors.kafka.config import KafkaConfig
from connectors.kafka.security import password_file, properties_file_text
from connectors.security.files import ensure_password, write_secret
from schemas.errors import ConfigurationError

log = logging.getLogger(__name__)

ADMIN = "lprx-admin"  # setup: topics, users, ACLs (a super user)
BROKER = "lprx-broker"  # the broker itself (a super user)
INGEST = "lprx-ingest"
OCR = "lprx-ocr"
WORKER = "lprx-worker"
REPLAY = "lprx-replay"
API = "lprx-api"
CHECKPOINT = "lprx-checkpoint"
SERVICES = (INGEST, OCR, WORKER, REPLAY, API, CHECKPOINT)
# What a dead letter may be replayed to: the topics the pipeline's stages consume.
REPLAY_TARGETS = ("frames", "reads.raw", "reads.normalized", "reads", "hits", "audit",
                  "dispositions")  # fmt: skip
PARTNER_PREFIX = "partner-"
SCRAM_ITERATIONS = 8192

_READ, _WRITE = AclOperation.READ, AclOperation.WRITE
_CREATE, _DESCRIBE = AclOperation.CREATE, AclOperation.DESCRIBE
_DESCRIBE_CONFIGS = AclOperation.DESCRIBE_CONFIGS
_LITERAL, _PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
_TOPIC, _GROUP = ResourceType.TOPIC, ResourceType.GROUP
_TRANSACTIONAL_ID = ResourceType.TRANSACTIONAL_ID


@dataclass(frozen=True)
class Grant:
    """One allowed operation on a topic or group, by exact name or by name prefix."""

    resource: ResourceType
    name: str
    operation: AclOperation
    prefixed: bool = False

    def binding(self, principal: str) -> AclBinding:
        return AclBinding(
            self.resource,
            self.name,
            _PREFIXED if self.prefixed else _LITERAL,
            f"User:{principal}",
            "*",
            self.operation,
            AclPermissionType.ALLOW,
        )

    def __str__(self) -> str:
        kind = "prefix" if self.prefixed else "literal"
        return f"{self.operation.name} {self.resource.name.lower()} {self.name} ({kind})"


def _topics(config: KafkaConfig, names: Iterable[str], *ops: AclOperation) -> list[Grant]:
    return [Grant(_TOPIC, config.topic(n), op) for n in names for op in ops]


def partner_principal(agency_ori: str) -> str:
    return f"{PARTNER_PREFIX}{agency_ori}"


def share_transactional_prefix(config: KafkaConfig) -> str:
    """What the transactional id of every share worker of the deployment starts with."""
    return f"{config.topic_prefix}-share-"


def ingest_grants(config: KafkaConfig) -> list[Grant]:
    return _topics(config, ("reads.raw", "frames", "audit", "deadletter"), _WRITE)


def ocr_grants(config: KafkaConfig, faust_tables: Sequence[str]) -> list[Grant]:
    """The OCR-only worker, Faust app ``P-ocr``: its names are literal, because the
    prefix ``P-ocr`` also starts the app id of every worker that runs more stages."""
    app_id = f"{config.topic_prefix}-ocr"
    internal = [f"{app_id}-{table}-changelog" for table in faust_tables]
    return [
        *_topics(config, ["frames"], _READ),
        *_topics(config, ("reads.raw", "deadletter", "audit"), _WRITE),
        Grant(_GROUP, app_id, _READ),
        *(
            Grant(_TOPIC, name, op)
            for name in internal
            for op in (_CREATE, _READ, _WRITE, _DESCRIBE, _DESCRIBE_CONFIGS)
        ),
    ]


def worker_grants(config: KafkaConfig) -> list[Grant]:
    reads = ("frames", "reads.raw", "reads.normalized", "reads", "hits", "audit",
             "dispositions", "hotlist", "agreements", "dedup-ticks", "hit-alerts")  # fmt: skip
    writes = ("reads.raw", "reads.normalized", "reads", "hits", "audit", "deadletter",
              "dedup-ticks", "hit-alerts")  # fmt: skip
    apps = f"{config.topic_prefix}-"  # Faust app ids: P-<stages>
    return [
        *_topics(config, reads, _READ),
        *_topics(config, writes, _WRITE),
        # Partner hit topics, created with their agreement (or by the share stage).
        Grant(_TOPIC, config.topic("hits."), _WRITE, prefixed=True),
        Grant(_TOPIC, config.topic("hits."), _CREATE, prefixed=True),
        # Faust's own topics (table changelogs) and consumer groups.
        *(
            Grant(_TOPIC, apps, op, prefixed=True)
            for op in (_CREATE, _READ, _WRITE, _DESCRIBE, _DESCRIBE_CONFIGS)
        ),
        Grant(_GROUP, apps, _READ, prefixed=True),
        # The compacted-topic followers' and hole readers' never-committed groups.
        Grant(_GROUP, f"{config.worker_id}-", _READ, prefixed=True),
        # The share stage's transactions (its group "P-share" is one of the apps' above).
        # Idempotent writes need no cluster grant: Write on a topic implies them.
        *(
            Grant(_TRANSACTIONAL_ID, share_transactional_prefix(config), op, prefixed=True)
            for op in (_DESCRIBE, _WRITE)
        ),
    ]


def replay_grants(config: KafkaConfig) -> list[Grant]:
    """``lprx deadletters replay``: reads the letters and its markers, writes them back."""
    return [
        *_topics(config, ("deadletter", "deadletter.replayed"), _READ),
        *_topics(config, (*REPLAY_TARGETS, "deadletter.replayed"), _WRITE),
        # The topic reader's never-committed groups: "lprx-replay-reader-<uuid>".
        Grant(_GROUP, f"{REPLAY}-", _READ, prefixed=True),
    ]


def api_grants(config: KafkaConfig) -> list[Grant]:
    """``lprx api``: what people's calls publish (agreements, hotlists, dispositions and
    the audit of every access), what it follows (agreements; a hotlist snapshot reads the
    live list) and the dead letters an operator lists. A partner's user, its ACLs and its
    hit topic are the operator's (``lprx partners add``), made as ``lprx-admin``."""
    return [
        *_topics(config, ("agreements", "hotlist", "dispositions", "audit"), _WRITE),
        *_topics(config, ("agreements", "hotlist", "deadletter"), _READ),
        # Its followers' and topic readers' never-committed groups (its worker id is
        # its principal: pipelines/access.py).
        Grant(_GROUP, f"{API}-", _READ, prefixed=True),
    ]


def checkpoint_grants(config: KafkaConfig) -> list[Grant]:
    """``lprx audit checkpoint``: the audit event of each checkpoint it signs."""
    return _topics(config, ["audit"], _WRITE)


def partner_grants(config: KafkaConfig, agency_ori: str) -> list[Grant]:
    principal = partner_principal(agency_ori)
    return [
        Grant(_TOPIC, config.partner_hits_topic(agency_ori), _READ),
        Grant(_TOPIC, config.topic("dispositions"), _WRITE),
        Grant(_GROUP, principal, _READ),
        # "partner-A-" and not "partner-A": that prefix would match partner-AB's groups.
        Grant(_GROUP, f"{principal}-", _READ, prefixed=True),
    ]


def service_grants(config: KafkaConfig, faust_tables: Sequence[str]) -> dict[str, list[Grant]]:
    return {
        INGEST: ingest_grants(config),
        OCR: ocr_grants(config, faust_tables),
        WORKER: worker_grants(config),
        REPLAY: replay_grants(config),
        API: api_grants(config),
        CHECKPOINT: checkpoint_grants(config),
    }


# --- applying them ----------------------------------------------------------------


def _wait(futures: Mapping[Any, Future[Any]], what: str) -> None:
    for key, future in futures.items():
        try:
            future.result()
        except KafkaException as error:
            raise ConfigurationError(f"Kafka refused to {what} ({key}): {error}") from error


def ensure_user(admin: AdminClient, config: KafkaConfig, principal: str) -> None:
    """The SCRAM credential of ``principal``, from its password file (generated once)."""
    secret = ensure_password(password_file(config, principal))
    upsert = UserScramCredentialUpsertion(
        principal,
        ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
        secret.get_secret_value().encode(),
    )
    _wait(admin.alter_user_scram_credentials([upsert]), f"set the password of {principal}")


def users(admin: AdminClient) -> list[str]:
    """The SCRAM users the broker knows."""
    try:
        future = cast("Future[dict[str, Any]]", admin.describe_user_scram_credentials())
        return sorted(future.result())
    except KafkaException as error:
        raise ConfigurationError(f"Kafka did not list its users: {error}") from error


def grant(admin: AdminClient, principal: str, grants: Iterable[Grant]) -> None:
    # Once each: the follower groups' prefix may be the Faust apps' one.
    bindings = [g.binding(principal) for g in dict.fromkeys(grants)]
    if bindings:
        _wait(admin.create_acls(bindings), f"add the ACLs of {principal}")


def _of(principal: str) -> AclBindingFilter:
    """Every ACL of ``principal`` (None: any resource name, any host)."""
    anything: Any = None
    return AclBindingFilter(
        ResourceType.ANY, anything, ResourcePatternType.ANY, f"User:{principal}", anything,
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip


def describe(binding: AclBinding) -> str:
    """``READ topic lprx.frames`` (a trailing ``*`` marks a prefix)."""

    def label(value: object) -> str:
        return str(getattr(value, "name", value))

    star = "*" if label(binding.resource_pattern_type) == "PREFIXED" else ""
    return f"{label(binding.operation)} {label(binding.restype).lower()} {binding.name}{star}"


def acls_of(admin: AdminClient, principal: str) -> list[AclBinding]:
    try:
        return list(admin.describe_acls(_of(principal)).result())
    except KafkaException as error:
        raise ConfigurationError(f"Kafka did not list the ACLs of {principal}: {error}") from error


def revoke(admin: AdminClient, principal: str) -> None:
    """Removes every ACL of ``principal`` (effective on its next request) and its SCRAM
    credential (no new connection logs in)."""
    _wait(admin.delete_acls([_of(principal)]), f"delete the ACLs of {principal}")
    if principal in users(admin):
        deletion = UserScramCredentialDeletion(principal, ScramMechanism.SCRAM_SHA_512)
        _wait(admin.alter_user_scram_credentials([deletion]), f"delete the user {principal}")


def provision_services(
    admin: AdminClient, config: KafkaConfig, faust_tables: Sequence[str]
) -> dict[str, list[Grant]]:
    """The users and ACLs of the lprx services for ``config``'s topic prefix."""
    grants = service_grants(config, faust_tables)
    for principal, principal_grants in grants.items():
        ensure_user(admin, config, principal)
        grant(admin, principal, principal_grants)
    return grants


def partner_properties_file(config: KafkaConfig, agency_ori: str) -> Path:
    return config.secrets_dir / "partners" / f"{partner_principal(agency_ori)}.properties"


def add_partner(admin: AdminClient, config: KafkaConfig, agency_ori: str) -> Path:
    """A partner agency's user and ACLs; returns its ready librdkafka properties file."""
    principal = partner_principal(agency_ori)
    ensure_user(admin, config, principal)
    grant(admin, principal, partner_grants(config, agency_ori))
    partner = config.model_copy(
        update={"kafka_principal": principal, "kafka_password": None, "kafka_password_file": None}
    )
    return write_secret(partner_properties_file(config, agency_ori), properties_file_text(partner))


def revoke_partner(admin: AdminClient, config: KafkaConfig, agency_ori: str) -> None:
    """Takes a partner's access away at once; its password and properties file go too."""
    revoke(admin, partner_principal(agency_ori))
    password_file(config, partner_principal(agency_ori)).unlink(missing_ok=True)
    partner_properties_file(config, agency_ori).unlink(missing_ok=True)
