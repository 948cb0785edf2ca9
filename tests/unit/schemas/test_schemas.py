"""Schemas and codecs: round trips, and what each kind of bad bytes does."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import (
    PREVIOUS_DIR,
    SINGLE_OBJECT_MARKER,
    ConfluentCodec,
    DecodeError,
    EncodeError,
    SchemaName,
    SingleObjectCodec,
    parsed_schema,
    schema_fingerprint,
    writer_schemas,
)
from schemas.records import (
    AuditAction,
    AuditEvent,
    CameraKind,
    DeadLetter,
    Frame,
    Hit,
    HotlistEntry,
    PlateCandidate,
    PlateRead,
    SharingAgreement,
)
from tests.factories import a_hit, a_read, an_agreement, an_entry

# Avro timestamp-millis keeps milliseconds, so generated times are whole milliseconds.
times = st.integers(min_value=0, max_value=4_102_444_800_000).map(
    lambda ms: datetime.fromtimestamp(ms / 1000, UTC)
)
text = st.text(max_size=20)
floats32 = st.integers(min_value=0, max_value=100)  # exact in a 32-bit float
reads = st.builds(
    PlateRead,
    read_id=text, agency_ori=text, camera_id=text,
    camera_kind=st.sampled_from(CameraKind),
    collected_at=times, received_at=times, expires_at=times,
    plate=text, confidence=floats32.map(float),
    latitude=st.none() | st.floats(-90, 90), longitude=st.none() | st.floats(-180, 180),
    region=st.none() | text,
    candidates=st.lists(
        st.builds(PlateCandidate, text, floats32.map(float), st.booleans()), max_size=4
    ).map(tuple),
    plate_box=st.none() | st.tuples(*(st.integers(0, 5000),) * 4),
    frame_count=st.integers(1, 100),
    duplicates=st.integers(0, 1000),
)  # fmt: skip

CODECS = [SingleObjectCodec(), ConfluentCodec("mock://lprx-tests")]


def test_every_schema_parses_with_a_distinct_fingerprint() -> None:
    prints = {schema_fingerprint(name) for name in SchemaName}
    assert len(prints) == len(SchemaName)
    assert all(parsed_schema(name)["name"] == f"lprx.{name.value}" for name in SchemaName)


@pytest.mark.parametrize("codec", CODECS, ids=["single-object", "confluent"])
@settings(max_examples=60, deadline=None)
@given(read=reads)
def test_plate_read_round_trip(codec: SingleObjectCodec, read: PlateRead) -> None:
    assert PlateRead.decode(codec, read.encode(codec)) == read


@pytest.mark.parametrize("codec", CODECS, ids=["single-object", "confluent"])
@pytest.mark.parametrize(
    "record",
    [
        a_hit(),
        an_entry(annotations={"vehicle": "red sedan"}, expires_at=datetime(2027, 1, 1, tzinfo=UTC)),
        an_agreement(),
        AuditEvent(
            "e1",
            datetime(2026, 1, 1, tzinfo=UTC),
            "jdoe",
            AuditAction.SEARCH,
            "query",
            "plate=X",
            purpose="case 1",
        ),
        DeadLetter(
            "d1",
            datetime(2026, 1, 1, tzinfo=UTC),
            "ocr",
            "bad jpeg",
            "InvalidRecord",
            "w",
            original_value=b"\xff\xd8",
        ),
        Frame(
            "f1",
            "MN9990001",
            "cam",
            CameraKind.PARTNER,
            datetime(2026, 1, 1, tzinfo=UTC),
            2,
            2,
            b"jpeg",
            owner="Main St Deli",
        ),
    ],
    ids=lambda r: type(r).__name__,
)
def test_record_round_trip(
    codec: SingleObjectCodec, record: Hit | HotlistEntry | SharingAgreement
) -> None:
    assert type(record).decode(codec, record.encode(codec)) == record


class TestBadBytes:
    codec = SingleObjectCodec()
    good = a_read().encode(SingleObjectCodec())

    def test_empty_message(self) -> None:
        with pytest.raises(DecodeError, match="empty"):
            PlateRead.decode(self.codec, b"")

    def test_json_instead_of_avro(self) -> None:
        with pytest.raises(DecodeError, match="single-object"):
            PlateRead.decode(self.codec, b'{"plate": "ABC123"}')

    def test_record_of_another_schema(self) -> None:
        with pytest.raises(DecodeError, match="fingerprint"):
            PlateRead.decode(self.codec, an_entry().encode(self.codec))

    def test_truncated_body(self) -> None:
        with pytest.raises(DecodeError):
            PlateRead.decode(self.codec, self.good[: len(self.good) // 2])

    def test_trailing_garbage(self) -> None:
        with pytest.raises(DecodeError, match="trailing"):
            PlateRead.decode(self.codec, self.good + b"\x00\x01")

    def test_confluent_bytes_given_to_single_object_reader(self) -> None:
        with pytest.raises(DecodeError):
            PlateRead.decode(self.codec, a_read().encode(CODECS[1]))

    def test_unencodable_record(self) -> None:
        with pytest.raises(EncodeError):
            self.codec.encode(SchemaName.PLATE_READ, {"plate": 5})


class TestEarlierSchemas:
    """Records written before a compatible schema change still decode (a rolling
    upgrade, or a topic replayed from its start)."""

    first_plate_read = fastavro.parse_schema(
        json.loads((PREVIOUS_DIR / "PlateRead.1.avsc").read_text()), _write_hint=False
    )

    def old_body(self, read: PlateRead) -> bytes:
        record = read.to_avro()
        del record["duplicates"]  # the field the second version added
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.first_plate_read, record)
        return buffer.getvalue()

    def test_a_hit_written_before_needs_verification_existed_decodes_unmarked(self) -> None:
        # Hit.2: the Hit just before needs_verification (Hit.1 is older still).
        first_hit = fastavro.parse_schema(
            json.loads((PREVIOUS_DIR / "Hit.2.avsc").read_text()), _write_hint=False
        )
        hit = a_hit(needs_verification=True)
        record = hit.to_avro()
        del record["needs_verification"]  # the field the third version added
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, first_hit, record)
        canonical = fastavro.schema.to_parsing_canonical_form(first_hit)
        old_print = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
        data = SINGLE_OBJECT_MARKER + old_print + buffer.getvalue()
        decoded = Hit.decode(SingleObjectCodec(), data)
        assert decoded == dataclasses.replace(hit, needs_verification=False)
        assert old_print in writer_schemas(SchemaName.HIT)

    def test_records_are_coded_with_schemas_fastavro_need_not_parse_again(self) -> None:
        # fastavro parses a schema without its mark again on every record.
        for name in SchemaName:
            assert all("__fastavro_parsed" in s for s in writer_schemas(name).values())

    def test_every_kept_version_has_its_own_fingerprint(self) -> None:
        for name in SchemaName:
            kept = writer_schemas(name)
            assert schema_fingerprint(name) in kept
        assert len(writer_schemas(SchemaName.PLATE_READ)) >= 2

    def test_a_read_written_before_duplicates_existed_decodes_with_none(self) -> None:
        read = a_read(frame_count=3)
        canonical = fastavro.schema.to_parsing_canonical_form(self.first_plate_read)
        old_print = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
        data = SINGLE_OBJECT_MARKER + old_print + self.old_body(read)
        decoded = PlateRead.decode(SingleObjectCodec(), data)
        assert decoded == dataclasses.replace(read, duplicates=0)

    def test_confluent_reader_fetches_the_writers_schema_by_id(self) -> None:
        from confluent_kafka.schema_registry import Schema

        codec = ConfluentCodec("mock://lprx-earlier-schemas")
        old = Schema(json.dumps(self.first_plate_read), "AVRO")
        old_id = codec._client.register_schema("lprx.PlateRead-v1", old)
        read = a_read()
        data = b"\x00" + old_id.to_bytes(4, "big") + self.old_body(read)
        assert PlateRead.decode(codec, data) == read

    def test_confluent_bytes_of_another_record_are_refused(self) -> None:
        codec = ConfluentCodec("mock://lprx-earlier-schemas-2")
        with pytest.raises(DecodeError):
            PlateRead.decode(codec, an_entry().encode(codec))

    def test_an_unknown_schema_id_is_refused(self) -> None:
        codec = ConfluentCodec("mock://lprx-earlier-schemas-3")
        with pytest.raises(DecodeError, match="registry"):
            PlateRead.decode(codec, b"\x00\x00\x00\x99\x99" + self.old_body(a_read()))


def test_retention_fields_travel_with_a_shared_hit() -> None:
    hit = a_hit(read=a_read(expires_at=datetime(2027, 1, 1, tzinfo=UTC) + timedelta(0)))
    decoded = Hit.decode(SingleObjectCodec(), hit.encode(SingleObjectCodec()))
    assert decoded.read.collected_at == hit.read.collected_at
    assert decoded.read.expires_at == hit.read.expires_at


@pytest.mark.parametrize(
    ("record", "added"),
    [
        (an_entry(), ("source_kind", "ncic_file", "purpose")),
        (an_agreement(), ("excluded_purposes", "proposed_by")),
    ],
)
def test_an_entry_or_agreement_written_before_its_policy_fields_decodes(
    record: HotlistEntry | SharingAgreement, added: tuple[str, ...]
) -> None:
    """Entries and agreements on their compacted topics from before the declared source
    and the second approver existed still decode, with the fields' defaults."""
    name = record.SCHEMA.value
    first = fastavro.parse_schema(
        json.loads((PREVIOUS_DIR / f"{name}.1.avsc").read_text()), _write_hint=False
    )
    body = record.to_avro()
    for field in added:
        del body[field]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, first, body)
    canonical = fastavro.schema.to_parsing_canonical_form(first)
    old_print = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    decoded = type(record).decode(SingleObjectCodec(), SINGLE_OBJECT_MARKER + old_print
                                  + buffer.getvalue())  # fmt: skip
    assert decoded == record
