"""What an agency decided about a hit it holds or received (its disposition)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pipelines.settings import Settings
from schemas import codec_for
from schemas.errors import NotFound
from schemas.records import Disposition, HitDisposition, utcnow

if TYPE_CHECKING:
    from connectors.cassandra import HitLocation


class HitFinder(Protocol):
    def find_hit(self, hit_id: str) -> HitLocation | None: ...


def disposition_of(
    store: HitFinder,
    *,
    hit_id: str,
    agency: str,
    user: str,
    disposition: Disposition,
    note: str | None = None,
) -> HitDisposition:
    """The disposition of a stored hit, found by its id; raises ``NotFound`` when the
    store no longer holds the hit (expired with its read) or never did."""
    location = store.find_hit(hit_id)
    if location is None:
        raise NotFound(
            f"hit {hit_id} is not held in the store (unknown, or expired with its read), "
            "so it cannot be disposed of"
        )
    return HitDisposition(
        hit_id=location.hit_id,
        hit_agency_ori=location.agency_ori,
        matched_at=location.matched_at,
        disposition=disposition,
        decided_by=user,
        decided_by_agency_ori=agency,
        decided_at=utcnow(),
        note=note,
    )


def dispose_hit(
    settings: Settings,
    store: HitFinder,
    *,
    hit_id: str,
    agency: str,
    user: str,
    disposition: Disposition,
    note: str | None = None,
    timeout_s: float = 10.0,
    send: Callable[[HitDisposition], None] | None = None,
) -> HitDisposition:
    """Sends what an agency decided about a hit to the dispositions topic (``send``, by
    default Kafka); the store agent stores it with the hit if the agency received it."""
    record = disposition_of(
        store, hit_id=hit_id, agency=agency, user=user, disposition=disposition, note=note
    )
    if send is None:
        from connectors.kafka.dispositions import publish_disposition
        from connectors.kafka.topics import make_producer

        producer = make_producer(settings, f"lprx-dispositions-{agency}")
        codec = codec_for(settings.schema_registry_url)
        publish_disposition(settings, producer, codec, record, timeout_s)
    else:
        send(record)
    return record
