"""The plain stage functions: normalise, retention, match, share (dedup: test_dedup.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

import pytest

from pipelines.matching.index import Match
from pipelines.ocr.confidence import alert_threshold
from pipelines.stages.match import (
    HotlistIndex,
    historical_hits,
    match_read,
    match_reads,
    match_reads_guarded,
    needs_verification,
)
from pipelines.stages.share import AgreementBook, deliveries, dissemination_audit
from schemas.errors import InvalidRecord
from schemas.plates import normalize_plate, normalize_region
from schemas.records import Hit, HotlistCategory, MatchKind, PlateCandidate, ReadSource
from schemas.retention import RetentionExpired, expires_at, ttl_seconds
from schemas.validation import normalize_read
from tests.factories import NOW, a_hit, a_read, an_agreement, an_entry

DAY = timedelta(days=1)


class TestNormalize:
    @pytest.mark.parametrize(
        ("raw", "plate"),
        [
            ("abc-123", "ABC123"),
            (" ABC 123 ", "ABC123"),
            ("7·XYZ·99", "7XYZ99"),
            ("mn 1a2", "MN1A2"),
        ],
    )
    def test_plate_text_is_upper_alphanumeric(self, raw: str, plate: str) -> None:
        assert normalize_plate(raw) == plate

    @pytest.mark.parametrize(
        ("raw", "region"), [("MN", "us-mn"), ("us-mn", "us-mn"), ("", None), (None, None)]
    )
    def test_region(self, raw: str | None, region: str | None) -> None:
        assert normalize_region(raw) == region

    def test_read_is_canonicalised_and_candidates_merged(self) -> None:
        read = a_read(
            plate="abc-123",
            region="MN",
            candidates=(
                PlateCandidate("abc 123", 80.0),
                PlateCandidate("ABC-123", 90.0),
                PlateCandidate("A8C123", 70.0),
            ),
        )
        result = normalize_read(read, 60, NOW)
        assert result.plate == "ABC123"
        assert result.region == "us-mn"
        assert [(c.plate, c.confidence) for c in result.candidates] == [
            ("ABC123", 90.0),
            ("A8C123", 70.0),
        ]

    def test_empty_plate_is_invalid(self) -> None:
        with pytest.raises(InvalidRecord, match="0 characters"):
            normalize_read(a_read(plate="--"), 60, NOW)

    def test_far_future_read_is_invalid(self) -> None:
        with pytest.raises(InvalidRecord, match="future"):
            normalize_read(a_read(collected_at=NOW + timedelta(hours=1)), 60, NOW)

    def test_confidence_out_of_range_is_invalid(self) -> None:
        with pytest.raises(InvalidRecord, match="confidence"):
            normalize_read(a_read(confidence=140.0), 60, NOW)

    def test_read_past_retention_is_refused(self) -> None:
        with pytest.raises(RetentionExpired):
            normalize_read(a_read(collected_at=NOW - 61 * DAY), 60, NOW)

    def test_camera_cannot_extend_retention(self) -> None:
        read = a_read(collected_at=NOW - DAY, expires_at=NOW + 400 * DAY)
        assert normalize_read(read, 60, NOW).expires_at == NOW - DAY + 60 * DAY

    def test_agency_with_shorter_retention(self) -> None:
        read = a_read(collected_at=NOW - 2 * DAY)
        assert normalize_read(read, 30, NOW).expires_at == NOW + 28 * DAY


class TestRetention:
    def test_ttl_counts_from_collection_not_arrival(self) -> None:
        collected = NOW - 59 * DAY
        assert ttl_seconds(expires_at(collected, 60), NOW) == 86400

    def test_ttl_rounds_up(self) -> None:
        assert ttl_seconds(NOW + timedelta(milliseconds=1), NOW) == 1

    def test_expired_read_has_no_ttl(self) -> None:
        with pytest.raises(RetentionExpired):
            ttl_seconds(expires_at(NOW - 61 * DAY, 60), NOW)


class TestMatch:
    def test_a_read_that_breaks_the_batch_gets_its_error_and_the_others_their_hits(
        self,
    ) -> None:
        class BrokenOnOnePlate(HotlistIndex):
            def lookup_many(self, plates: Sequence[str]) -> list[list[Match]]:
                raise RuntimeError("batch lookup failed")

            def lookup(self, plate: str) -> list[Match]:
                if plate == "BAD999":
                    raise RuntimeError("this plate breaks the index")
                return super().lookup(plate)

        reads = [a_read(), a_read(plate="BAD999"), a_read(plate="ZZZ999")]
        outcomes = match_reads_guarded(reads, BrokenOnOnePlate([an_entry()]), NOW)
        hit, error, miss = outcomes
        assert isinstance(hit, Hit) and hit.read == reads[0]
        assert isinstance(error, RuntimeError) and "breaks" in str(error)
        assert miss is None

    def test_a_confusable_spelling_stored_earlier_is_a_historical_hit(self) -> None:
        entry = an_entry(plate="ABC123")
        stored = [a_read(plate="ABC123"), a_read(plate="A8C123"), a_read(plate="XYZ999")]
        hits = historical_hits(entry, stored, NOW)
        assert [(h.read.plate, h.match_kind) for h in hits] == [
            ("ABC123", MatchKind.EXACT),
            ("A8C123", MatchKind.CONFUSABLE),
        ]
        assert all(h.historical for h in hits)

    def test_a_hit_on_an_ocr_read_under_the_alert_threshold_needs_verification(self) -> None:
        threshold = 100.0 * alert_threshold()
        index = HotlistIndex([an_entry()])
        unsure = a_read(source=ReadSource.SERVER_OCR, confidence=threshold - 0.01)
        sure = a_read(source=ReadSource.SERVER_OCR, confidence=threshold)
        unsure_hit, sure_hit = match_reads([unsure, sure], index, NOW)
        assert unsure_hit is not None and unsure_hit.needs_verification
        assert sure_hit is not None and not sure_hit.needs_verification

    def test_a_fuzzy_match_needs_verification_whatever_the_confidence(self) -> None:
        index = HotlistIndex([an_entry(plate="ABC123")], max_distance=1)
        confident = {"source": ReadSource.SERVER_OCR, "confidence": 99.9}
        exact, confusable, one_edit = match_reads(
            [a_read(plate="ABC123", **confident), a_read(plate="A8C123", **confident),
             a_read(plate="ABC124", **confident)],
            index, NOW,
        )  # fmt: skip
        assert exact is not None and confusable is not None and one_edit is not None
        assert (exact.match_kind, exact.needs_verification) == (MatchKind.EXACT, False)
        assert (confusable.match_kind, confusable.needs_verification) == (
            MatchKind.CONFUSABLE,
            True,
        )
        assert (one_edit.match_kind, one_edit.needs_verification) == (
            MatchKind.EDIT_DISTANCE,
            True,
        )

    def test_a_cameras_own_confidence_alone_does_not_mark_a_hit(self) -> None:
        # A camera's score is not on lprx's calibrated scale (needs_verification's doc).
        read = a_read(source=ReadSource.CAMERA_ALPR, confidence=60.0)
        hit = match_read(read, HotlistIndex([an_entry()]), NOW)
        assert hit is not None and not hit.needs_verification
        assert needs_verification(read, MatchKind.WILDCARD)

    def test_historical_hits_carry_the_mark_too(self) -> None:
        entry = an_entry(plate="ABC123")
        stored = [
            a_read(plate="ABC123", source=ReadSource.SERVER_OCR, confidence=99.0),
            a_read(plate="ABC123", source=ReadSource.SERVER_OCR, confidence=40.0),
            a_read(plate="A8C123", source=ReadSource.SERVER_OCR, confidence=99.0),
        ]
        hits = historical_hits(entry, stored, NOW)
        assert [h.needs_verification for h in hits] == [False, True, True]

    def test_guarded_batch_equals_the_batch_when_nothing_fails(self) -> None:
        reads = [a_read(), a_read(plate="ZZZ999")]
        index = HotlistIndex([an_entry()])
        guarded = match_reads_guarded(reads, index, NOW)
        plain = match_reads(reads, index, NOW)
        assert [type(o) for o in guarded] == [type(o) for o in plain]

    def test_exact_match(self) -> None:
        hit = match_read(a_read(), HotlistIndex([an_entry()]), NOW)
        assert hit is not None and hit.entry.plate == "ABC123" and not hit.state_mismatch

    def test_no_match(self) -> None:
        assert match_read(a_read(plate="ZZZ999"), HotlistIndex([an_entry()]), NOW) is None

    def test_other_state_is_reported_as_mismatch(self) -> None:
        hit = match_read(a_read(region="us-wi"), HotlistIndex([an_entry()]), NOW)
        assert hit is not None and hit.state_mismatch

    def test_highest_priority_wins_and_others_are_listed(self) -> None:
        low = an_entry(entry_id="a", priority=10)
        high = an_entry(entry_id="b", priority=90, category=HotlistCategory.AMBER_ALERT)
        hit = match_read(a_read(), HotlistIndex([low, high]), NOW)
        assert hit is not None and hit.entry.entry_id == "b" and hit.other_entry_ids == ("a",)

    def test_expired_and_future_entries_do_not_match(self) -> None:
        index = HotlistIndex(
            [
                an_entry(entry_id="old", expires_at=NOW - DAY),
                an_entry(entry_id="new", effective_at=NOW + DAY),
            ]
        )
        assert match_read(a_read(), index, NOW) is None

    def test_retracted_entry_does_not_match(self) -> None:
        index = HotlistIndex([an_entry()])
        index.retract("stolen:MN:ABC123")
        assert match_read(a_read(), index, NOW) is None and len(index) == 0

    def test_updated_entry_replaces_the_old_one(self) -> None:
        index = HotlistIndex([an_entry(priority=10)])
        index.put(an_entry(priority=99))
        hit = match_read(a_read(), index, NOW)
        assert hit is not None and hit.entry.priority == 99 and hit.other_entry_ids == ()

    def test_a_batch_matches_each_read_as_one_at_a_time_would(self) -> None:
        index = HotlistIndex(
            [
                an_entry(entry_id="low", priority=10),
                an_entry(entry_id="high", priority=90, category=HotlistCategory.AMBER_ALERT),
                an_entry(entry_id="wi", plate="XYZ7890", plate_state="WI"),
                an_entry(entry_id="gone", plate="OLD1234", expires_at=NOW - DAY),
            ]
        )
        reads = [
            a_read(),  # two entries: priority order
            a_read(plate="ABC128"),  # one edit
            a_read(plate="XYZ7890"),  # other state
            a_read(plate="OLD1234"),  # expired entry
            a_read(plate="NOPE000"),  # no entry
        ]
        batch = match_reads(reads, index, NOW)
        single = [match_read(read, index, NOW) for read in reads]

        def summary(hit: Hit | None) -> tuple[object, ...] | None:
            if hit is None:
                return None
            return (hit.entry.entry_id, hit.match_kind, hit.state_mismatch, hit.other_entry_ids)

        assert [summary(h) for h in batch] == [summary(h) for h in single]
        assert [summary(h) for h in batch][2:] == [("wi", MatchKind.EXACT, True, ()), None, None]
        assert batch[0] is not None and batch[0].entry.entry_id == "high"
        assert batch[1] is not None and batch[1].match_kind is MatchKind.EDIT_DISTANCE


class TestShare:
    def recipients(self, book: AgreementBook, **hit_overrides: object) -> set[str]:
        return {d.recipient_ori for d in deliveries(a_hit(**hit_overrides), book, NOW)}

    def test_owner_always_gets_its_own_hit(self) -> None:
        assert self.recipients(AgreementBook()) == {"MN9990001"}

    def test_partner_gets_covered_category_only(self) -> None:
        book = AgreementBook([an_agreement()])
        assert self.recipients(book) == {"MN9990001", "MN9990002"}
        amber = an_entry(category=HotlistCategory.AMBER_ALERT)
        assert self.recipients(book, entry=amber) == {"MN9990001"}

    def test_agreement_of_another_owner_does_not_apply(self) -> None:
        book = AgreementBook([an_agreement(owner_agency_ori="MN9990003", agreement_id="x")])
        assert self.recipients(book) == {"MN9990001"}

    def test_covert_entries_need_explicit_consent(self) -> None:
        covert = an_entry(covert=True)
        assert self.recipients(AgreementBook([an_agreement()]), entry=covert) == {"MN9990001"}
        book = AgreementBook([an_agreement(share_covert=True)])
        assert self.recipients(book, entry=covert) == {"MN9990001", "MN9990002"}

    def test_expired_or_revoked_agreement_shares_nothing(self) -> None:
        ended = an_agreement(effective_until=NOW - timedelta(minutes=1))
        assert self.recipients(AgreementBook([ended])) == {"MN9990001"}
        book = AgreementBook([an_agreement()])
        book.revoke("MN9990001->MN9990002")
        assert self.recipients(book) == {"MN9990001"}

    def test_every_dissemination_is_audited(self) -> None:
        hit = a_hit()
        book = AgreementBook([an_agreement()])
        events = [dissemination_audit(hit, d, NOW) for d in deliveries(hit, book, NOW)]
        partner = next(e for e in events if e.recipient_agency_ori == "MN9990002")
        assert partner.target_id == hit.hit_id
        assert partner.details["agreement_id"] == "MN9990001->MN9990002"
        assert partner.action.value == "DISSEMINATE"


def test_records_are_immutable() -> None:
    read = a_read()
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.plate = "X"  # type: ignore[misc]


class TestSuppression:
    def test_repeat_hit_within_the_window_is_suppressed(self) -> None:
        from pipelines.stages.share import HitSuppressor

        suppressor = HitSuppressor(timedelta(minutes=10))
        first = a_hit(read=a_read(collected_at=NOW))
        again = a_hit(read=a_read(collected_at=NOW + timedelta(minutes=3)))
        later = a_hit(read=a_read(collected_at=NOW + timedelta(minutes=11)))
        other_entry = a_hit(read=a_read(collected_at=NOW), entry=an_entry(entry_id="x"))
        assert suppressor.should_alert(first)
        assert not suppressor.should_alert(again)
        assert suppressor.should_alert(other_entry)
        assert suppressor.should_alert(later), "after the window it alerts again"

    def test_historical_hits_are_each_delivered_and_do_not_hold_back_a_live_one(self) -> None:
        from pipelines.stages.share import HitSuppressor

        suppressor = HitSuppressor(timedelta(minutes=10))
        past = [a_hit(read=a_read(camera_id=c), historical=True) for c in ("cam-1", "cam-2")]
        assert all(suppressor.should_alert(hit) for hit in past)
        assert suppressor.should_alert(a_hit(read=a_read()))

    def test_a_confusable_misread_of_the_same_car_is_a_repeat(self) -> None:
        from pipelines.stages.share import HitSuppressor
        from schemas.keys import hit_key

        suppressor = HitSuppressor(timedelta(minutes=10))
        first = a_hit(read=a_read(plate="ABC1234", collected_at=NOW))
        misread = a_hit(read=a_read(plate="A8C1Z34", collected_at=NOW + timedelta(minutes=1)))
        assert hit_key(first) == hit_key(misread)
        assert suppressor.should_alert(first)
        assert not suppressor.should_alert(misread)

    def test_changes_say_which_alerts_to_write_and_which_to_delete(self) -> None:
        from pipelines.stages.share import HitSuppressor, suppression_key

        suppressor = HitSuppressor(timedelta(seconds=10))
        first = a_hit(read=a_read(plate="AAA111", collected_at=NOW))
        assert suppressor.should_alert(first)
        assert suppressor.take_changes() == ({suppression_key(first): NOW}, set())
        later_at = NOW + timedelta(seconds=60)
        later = a_hit(read=a_read(plate="BBB222", collected_at=later_at))
        assert suppressor.should_alert(later)
        # The first alert has left the window: written away, so deleted from the table.
        assert suppressor.take_changes() == (
            {suppression_key(later): later_at},
            {suppression_key(first)},
        )
        repeat = a_hit(read=a_read(plate="BBB222", collected_at=later_at + timedelta(seconds=1)))
        assert not suppressor.should_alert(repeat)
        assert suppressor.take_changes() == ({}, set()), "a suppressed hit writes nothing"

    def test_a_suppressor_rebuilt_from_its_alerts_still_suppresses(self) -> None:
        from pipelines.stages.share import HitSuppressor

        window = timedelta(minutes=10)
        before = HitSuppressor(window)
        assert before.should_alert(a_hit(read=a_read(collected_at=NOW)))
        written, _ = before.take_changes()
        after = HitSuppressor(window)  # another worker, from the table
        for key, at in written.items():
            after.remember(key, at)
        repeat = a_hit(read=a_read(collected_at=NOW + timedelta(minutes=3)))
        assert not after.should_alert(repeat)

    def test_memory_is_bounded_by_the_window(self) -> None:
        from pipelines.stages.share import HitSuppressor

        suppressor = HitSuppressor(timedelta(seconds=10))
        for i in range(500):
            suppressor.should_alert(
                a_hit(read=a_read(plate=f"P{i}", collected_at=NOW + timedelta(seconds=i)))
            )
        assert len(suppressor) <= 11

    def test_alerts_written_a_window_ago_are_forgotten_even_on_a_quiet_partition(
        self,
    ) -> None:
        from pipelines.stages.share import HitSuppressor, suppression_key

        suppressor = HitSuppressor(timedelta(minutes=10))
        hit = a_hit(read=a_read(collected_at=NOW))
        assert suppressor.should_alert(hit, NOW + timedelta(seconds=5))
        suppressor.take_changes()
        suppressor.expire(NOW + timedelta(minutes=10))
        assert len(suppressor) == 1, "seen 9 min 55 s ago: still remembered"
        suppressor.expire(NOW + timedelta(minutes=10, seconds=6))
        assert len(suppressor) == 0
        assert suppressor.take_changes() == ({}, {suppression_key(hit)})


class TestDeliveredHits:
    def test_a_hit_delivered_is_not_delivered_again_within_the_window(self) -> None:
        from pipelines.stages.share import ShareMemory

        memory = ShareMemory(timedelta(minutes=10))
        live = a_hit(read=a_read(collected_at=NOW))
        past = a_hit(read=a_read(collected_at=NOW - timedelta(days=3)), historical=True)
        other_past = a_hit(read=a_read(camera_id="cam-2"), historical=True)
        assert memory.admit(live, NOW) == "ok"
        assert memory.admit(live, NOW + timedelta(minutes=1)) == "duplicate"
        assert memory.admit(past, NOW) == "ok"
        assert memory.admit(past, NOW + timedelta(minutes=2)) == "duplicate"
        assert memory.admit(other_past, NOW) == "ok", "historical hits are each delivered"
        later = a_hit(read=a_read(collected_at=NOW + timedelta(minutes=3)))
        assert memory.admit(later, NOW + timedelta(minutes=3)) == "suppressed"

    def test_delivered_hits_are_forgotten_a_window_after_delivery(self) -> None:
        from pipelines.stages.share import DeliveredHits

        delivered = DeliveredHits(timedelta(minutes=10))
        delivered.add("h1", NOW)
        delivered.add("h2", NOW + timedelta(minutes=5))
        assert delivered.take_changes() == ({"h1": NOW, "h2": NOW + timedelta(minutes=5)}, set())
        delivered.expire(NOW + timedelta(minutes=11))
        assert "h1" not in delivered and "h2" in delivered
        assert delivered.take_changes() == ({}, {"h1"})

    def test_a_delivery_has_one_audit_id_however_often_it_is_attempted(self) -> None:
        hit = a_hit()
        book = AgreementBook([an_agreement()])
        first = [dissemination_audit(hit, d, NOW) for d in deliveries(hit, book, NOW)]
        again = [dissemination_audit(hit, d, NOW) for d in deliveries(hit, book, NOW)]
        assert [e.event_id for e in first] == [e.event_id for e in again]
        assert len({e.event_id for e in first}) == 2


class TestDispositions:
    def disposition(self, decider: str) -> object:
        from schemas.records import Disposition, HitDisposition

        return HitDisposition("h1", "MN9990001", NOW, Disposition.CORRECT, "j.doe", decider, NOW)

    def test_owner_and_covered_partner_may_dispose(self) -> None:
        from pipelines.stages.dispositions import authorize

        book = AgreementBook([an_agreement()])
        authorize(self.disposition("MN9990001"), HotlistCategory.STOLEN_VEHICLE, book, NOW)  # type: ignore[arg-type]
        authorize(self.disposition("MN9990002"), HotlistCategory.STOLEN_VEHICLE, book, NOW)  # type: ignore[arg-type]

    def test_an_agency_that_never_received_the_hit_may_not(self) -> None:
        from pipelines.stages.dispositions import NotARecipient, authorize

        book = AgreementBook([an_agreement()])
        with pytest.raises(NotARecipient):
            authorize(self.disposition("MN9990003"), HotlistCategory.STOLEN_VEHICLE, book, NOW)  # type: ignore[arg-type]
        with pytest.raises(NotARecipient):  # the agreement does not cover Amber alerts
            authorize(self.disposition("MN9990002"), HotlistCategory.AMBER_ALERT, book, NOW)  # type: ignore[arg-type]
