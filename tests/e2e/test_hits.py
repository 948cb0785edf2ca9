"""End to end, hits: who receives a hit (by agreement only), an OCR read's hit, a repeat
stored but not re-alerted, dispositions stored with their hit, and historical hits
raised once on stored reads when an entry arrives."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.topic import publish_entries
from pipelines.ocr.confidence import alert_threshold
from schemas.records import Hit, HotlistCategory, MatchKind, utcnow
from tests.conftest import wait_for
from tests.e2e.harness import (
    CODEC,
    HISTORICAL_MARKER,
    NO_AGREEMENT_MARKER,
    OTHER,
    OWNER,
    PARTNER,
    SUPPRESSION_MARKER,
    Running,
    find_letter,
    metric_total,
    partner_hits,
    rows_for,
    share_has_handled_hits_before,
)


def test_hit_reaches_the_agreed_partner_and_no_other(running: Running) -> None:
    assert running.post_read("HOT-1234", "cam-hit", datetime.now(UTC)).status_code == 202
    partner = wait_for(lambda: partner_hits(running, PARTNER, "HOT1234"), 120, "partner hit")
    assert partner[0].entry.category is HotlistCategory.STOLEN_VEHICLE
    assert partner[0].read.agency_ori == OWNER
    # A camera's exact read: the partner's record does not ask for verification.
    assert not partner[0].needs_verification
    wait_for(lambda: partner_hits(running, OWNER, "HOT1234"), 60, "the owner's own hit")
    # The other agency's agreement covers Amber alerts only: nothing for it, once the
    # marker (an Amber alert, posted after this hit) has reached it.
    share_has_handled_hits_before(running, NO_AGREEMENT_MARKER, OTHER)
    assert partner_hits(running, OTHER, "HOT1234") == []
    # Other tests store hits of the owner's too: wait for this one.
    wait_for(
        lambda: [h for h in running.store.hits_for_agency(OWNER, 1000) if h["plate"] == "HOT1234"],
        60,
        "the stored hit",
    )


def test_ocr_read_of_a_hotlist_plate_is_a_hit_too(running: Running) -> None:
    frame = running.frame(running.hit_frame_jpeg, "legacy-cam-hit")
    running.produce("frames", frame.encode(CODEC))
    plate = running.hit_frame_plate
    rows_for(running, plate, timeout=180, camera_id="legacy-cam-hit")
    hits = wait_for(lambda: partner_hits(running, PARTNER, plate), 120, "OCR hit")
    assert hits[0].read.camera_id == "legacy-cam-hit"
    assert hits[0].read.source.value == "SERVER_OCR"
    # The partner's record says whether the OCR was sure enough to act on unverified.
    unsure = hits[0].read.confidence < 100.0 * alert_threshold()
    assert hits[0].needs_verification is (unsure or hits[0].match_kind is not MatchKind.EXACT)


def test_a_repeated_hit_is_stored_but_not_re_alerted(running: Running) -> None:
    now = datetime.now(UTC)
    # Two cameras, so dedup keeps both reads; the second hit is a repeat.
    assert running.post_read("SUP1234", "cam-sup-1", now).status_code == 202
    assert running.post_read("SUP1234", "cam-sup-2", now + timedelta(seconds=5)).status_code == 202

    def stored_hits() -> list[dict[str, Any]]:
        return [h for h in running.store.hits_for_agency(OWNER, 1000) if h["plate"] == "SUP1234"]

    wait_for(lambda: len(stored_hits()) == 2, 120, "both hits stored")
    wait_for(lambda: partner_hits(running, PARTNER, "SUP1234"), 60, "the alert")
    # Both hits are on the hits topic: once the marker is delivered, a re-alert would be.
    share_has_handled_hits_before(running, SUPPRESSION_MARKER, PARTNER)
    assert len(partner_hits(running, PARTNER, "SUP1234")) == 1
    assert metric_total(running, "share", "suppressed") >= 1


def test_dispositions_from_recipients_are_stored_with_the_hit(running: Running) -> None:
    from schemas.records import Disposition, HitDisposition

    assert running.post_read("DIS4321", "cam-dis", datetime.now(UTC)).status_code == 202
    (hit,) = wait_for(lambda: partner_hits(running, PARTNER, "DIS4321"), 120, "partner hit")

    def dispose(agency: str, disposition: Disposition) -> bytes:
        record = HitDisposition(
            hit.hit_id, OWNER, hit.matched_at, disposition, f"officer.{agency}", agency, utcnow()
        ).encode(CODEC)
        running.produce("dispositions", record)
        return record

    stranger = dispose(OTHER, Disposition.DISMISSED)  # never received this hit
    dispose(PARTNER, Disposition.CORRECT)

    def stored() -> dict[str, Any] | None:
        rows = [h for h in running.store.hits_for_agency(OWNER, 1000) if h["hit_id"] == hit.hit_id]
        return rows[0] if rows and rows[0]["disposition"] else None

    row = wait_for(stored, 120, "the disposition on the stored hit")
    assert (row["disposition"], row["disposition_agency"]) == ("CORRECT", PARTNER)
    letter = find_letter(running, lambda d: d.original_value == stranger)
    assert letter.stage == "dispositions" and "did not receive" in letter.reason


def test_a_new_entry_raises_historical_hits_on_stored_reads(running: Running) -> None:
    assert running.post_read("HIS5678", "cam-his", datetime.now(UTC)).status_code == 202
    # The same car read with a confusable character (S as 5) by another camera.
    assert running.post_read("HI55678", "cam-his-2", datetime.now(UTC)).status_code == 202
    rows_for(running, "HIS5678")
    rows_for(running, "HI55678")
    # Both reads are on the reads topic: the marker's hit is behind any hit of theirs.
    share_has_handled_hits_before(running, HISTORICAL_MARKER, PARTNER)
    assert partner_hits(running, PARTNER, "HIS5678") == []
    source = HotlistSource("e2e-late", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    entries = parse_csv("plate,state\nHIS5678,MN\n", source).entries
    publish_entries(running.settings, running.producer, CODEC, entries)

    def historical() -> list[Hit]:
        hits = partner_hits(running, PARTNER, "HIS5678") + partner_hits(running, PARTNER, "HI55678")
        return hits if len(hits) >= 2 else []

    hits = sorted(wait_for(historical, 120, "historical hits"), key=lambda h: h.read.camera_id)
    assert all(h.historical and h.entry.list_id == "e2e-late" for h in hits)
    assert [(h.read.camera_id, h.match_kind) for h in hits] == [
        ("cam-his", MatchKind.EXACT),
        ("cam-his-2", MatchKind.CONFUSABLE),
    ]
    # The entry changed (a higher priority): its reads were checked once, not again.
    changed = [dataclasses.replace(entries[0], priority=entries[0].priority + 10)]
    checked_before = metric_total(running, "historical", "already_checked")
    publish_entries(running.settings, running.producer, CODEC, changed)
    wait_for(
        lambda: metric_total(running, "historical", "already_checked") > checked_before,
        60,
        "the change",
    )
    assert len(historical()) == 2
