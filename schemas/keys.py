"""The Kafka key of each record: one rule per record, used by every producer.

Keys decide partitions, so they decide which records meet in one worker: a site's raw
reads (for dedup), a car's hits (for suppression), an agency's audit events.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.plates import confusable_key
from schemas.records import AuditEvent, DeadLetter, Frame, Hit, HitDisposition, PlateRead


def dedup_group(camera_id: str, sites: Mapping[str, str]) -> str:
    """The camera's site if it has one, else the camera: reads of one place meet."""
    return sites.get(camera_id, camera_id)


def raw_read_key(read: PlateRead, sites: Mapping[str, str]) -> bytes:
    """``reads.raw``: the site (or camera), so dedup sees a site in one partition."""
    return dedup_group(read.camera_id, sites).encode()


def read_key(read: PlateRead) -> bytes:
    """``reads``: the camera, so a camera's reads stay in order."""
    return read.camera_id.encode()


def frame_key(frame: Frame) -> bytes:
    return frame.camera_id.encode()


def hit_key(hit: Hit) -> bytes:
    """``hits``: the plate with confusables folded, so the repeats of a car (``ABC1234``,
    ``A8C1234``) reach the same share worker and its suppression."""
    return confusable_key(hit.read.plate).encode()


def delivered_hit_key(hit: Hit) -> bytes:
    """``hits.<ORI>``: the plate as read, for the partner's own consumers."""
    return hit.read.plate.encode()


def disposition_key(disposition: HitDisposition) -> bytes:
    """``dispositions``: the hit, so the decisions about one hit stay in order."""
    return disposition.hit_id.encode()


def audit_key(event: AuditEvent) -> bytes:
    """``audit``: the acting agency's ORI, so an agency's trail stays in order."""
    return (event.actor_agency_ori or "").encode()


def dead_letter_key(letter: DeadLetter) -> bytes:
    """``deadletter``: the original key (a camera's refusals together), else the stage."""
    return letter.original_key or letter.stage.encode()


PENDING_SUFFIX = "#pending"


def pending_agreement_key(agreement_id: str) -> str:
    """``agreements``: a widening waiting for its second approver sits beside the
    agreement in force, under its own key, so followers never take it for the terms."""
    return f"{agreement_id}{PENDING_SUFFIX}"
