"""Every decoder and file parser, fed arbitrary and mutated input: each returns a record
or refuses with our own error, never crashes with another exception.

What happens to each kind of bad input is the README's bad-input table: bytes on a topic
that are not the expected record -> DecodeError (the agent dead-letters them); a bad
hotlist row -> reported with its line, the other rows load; a bad camera file ->
ConfigurationError naming the field; a bad mask -> ConfigurationError.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.cameras.config_file import parse_cameras
from connectors.cameras.privacy_masks import validate_masks
from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.formats import parse_genetec, parse_ncic
from connectors.ingest.openalpr import ReadContext, reads_from_openalpr, reads_from_plain
from schemas import DecodeError, SingleObjectCodec
from schemas.errors import ConfigurationError, InvalidRecord
from schemas.records import (
    AuditEvent,
    DeadLetter,
    Frame,
    Hit,
    HitDisposition,
    HotlistCategory,
    HotlistEntry,
    PlateRead,
    SharingAgreement,
)
from tests.factories import a_hit, a_read, an_agreement, an_entry
from tests.fuzz import EXAMPLES

CODEC = SingleObjectCodec()
RECORDS = (
    AuditEvent,
    DeadLetter,
    Frame,
    Hit,
    HitDisposition,
    HotlistEntry,
    PlateRead,
    SharingAgreement,
)
VALID = [
    a_read().encode(CODEC),
    a_hit().encode(CODEC),
    an_entry().encode(CODEC),
    an_agreement().encode(CODEC),
]
SOURCE = HotlistSource("fuzz", "test", "MN9990001", HotlistCategory.STOLEN_VEHICLE)
CONTEXT = ReadContext(agency_ori="MN9990001", retention_days=60, received_at=datetime.now(UTC))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def _decodes_or_refuses(data: bytes) -> None:
    for record in RECORDS:
        with contextlib.suppress(DecodeError):
            record.decode(CODEC, data)


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    _decodes_or_refuses(data)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_mutated_records_decode_or_raise_decode_error(valid: bytes, data: st.DataObject) -> None:
    """Valid records with bytes flipped, cut or appended: the cases closest to real damage."""
    mutated = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "append"]))
        if kind == "flip" and mutated:
            at = data.draw(st.integers(0, len(mutated) - 1))
            mutated[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
        else:
            mutated += data.draw(st.binary(min_size=1, max_size=16))
    _decodes_or_refuses(bytes(mutated))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
read_like = st.fixed_dictionaries(
    {},
    optional={
        "plate": json_values | st.text(max_size=20),
        "camera_id": json_values | st.text(max_size=10),
        "collected_at": json_values
        | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        "confidence": json_values | st.floats(),
        "data_type": st.sampled_from(["alpr_results", "alpr_group", "alpr_alert", "heartbeat"]),
        "results": json_values,
        "epoch_time": json_values | st.integers(),
        "epoch_start": json_values | st.integers(),
        "best_plate_number": json_values,
        "best_confidence": json_values,
        "candidates": json_values,
    },
)


@FUZZ
@given(st.one_of(json_values, read_like, st.lists(read_like, max_size=3)))
def test_camera_payloads_give_reads_or_invalid_record(payload: object) -> None:
    for parse in (reads_from_plain, reads_from_openalpr):
        with contextlib.suppress(InvalidRecord):
            parse(payload, CONTEXT)


@FUZZ
@given(st.text(max_size=400), st.sampled_from([parse_csv, parse_genetec, parse_ncic]))
def test_hotlist_files_give_entries_and_row_errors_only(text: str, parse: object) -> None:
    report = parse(text, SOURCE)  # type: ignore[operator]
    for entry in report.entries:
        assert entry.plate
        # Every entry the parser lets through can go on the topic and come back.
        assert HotlistEntry.decode(CODEC, entry.encode(CODEC)) == entry


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["plate", "state", "category", "case_number", "effective_at", "expires_at"]
            ),
            st.text(max_size=30),
        ),
        max_size=6,
    )
)
def test_hotlist_csv_rows_with_any_values(columns: list[tuple[str, str]]) -> None:
    header = ",".join(name for name, _ in columns) or "plate"
    row = ",".join(json.dumps(value) for _, value in columns)
    report = parse_csv(f"{header}\n{row}\n", SOURCE)
    assert len(report.entries) + len(report.errors) <= 1
    for entry in report.entries:
        assert HotlistEntry.decode(CODEC, entry.encode(CODEC)) == entry


@FUZZ
@given(json_values)
def test_camera_files_give_cameras_or_configuration_error(data: object) -> None:
    with contextlib.suppress(ConfigurationError):
        parse_cameras({"cameras": data} if not isinstance(data, dict) else data)


@FUZZ
@given(json_values)
def test_masks_give_polygons_or_value_error(masks: object) -> None:
    """ValueError is the mask validators' refusal: the camera file and the upload turn it
    into a ConfigurationError or a 422 naming the mask."""
    with contextlib.suppress(ValueError):
        validate_masks(masks)
