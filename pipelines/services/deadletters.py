"""The dead-letter topic: what a stage refused, and why. Audited: letters can hold reads."""

from __future__ import annotations

from connectors.kafka.audit import AuditWriter
from connectors.kafka.reader import ReadValues, read_values
from pipelines.services.scope import open_person_access
from pipelines.settings import Settings
from schemas import codec_for
from schemas.people import Principal
from schemas.records import DeadLetter


def dead_letters(
    settings: Settings,
    trail: AuditWriter,
    principal: Principal,
    *,
    max_messages: int,
    timeout_s: float,
    read: ReadValues = read_values,
) -> list[DeadLetter]:
    """The dead letters from the topic's start, the look-up audited first and the ids
    shown after. Callers show a person the stage and reason, never the bytes."""
    topic = settings.topic("deadletter")
    access = open_person_access(trail, principal, target_kind="topic", target_id=topic,
                                why=None, justified=False)  # fmt: skip
    codec = codec_for(settings.schema_registry_url)
    letters = [DeadLetter.decode(codec, v) for v in read(settings, topic, max_messages, timeout_s)]
    access.shown(letter.dead_letter_id for letter in letters)
    return letters
