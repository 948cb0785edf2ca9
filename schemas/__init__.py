"""lprx's records, their Avro schemas (the ``*.avsc`` files here) and codecs, and the
rules of the records themselves (plates, retention, keys). Imports nothing of ours.

    codec.py       Avro encodings (single-object, Confluent), DecodeError, EncodeError
    mapping.py     records <-> Avro dicts, derived from the record types
    records.py     the typed records and their enums
    errors.py      the exception tree every layer raises
    plates.py      plate normalisation, confusables, edit distance, wildcards
    validation.py  the rules a read must pass to be kept
    retention.py   retention counted from collection
    keys.py        the Kafka key of each record
    deadletter.py  a failure as a DeadLetter record
"""

from schemas.codec import (
    Codec,
    ConfluentCodec,
    DecodeError,
    EncodeError,
    SchemaName,
    SingleObjectCodec,
    codec_for,
    parsed_schema,
    schema_fingerprint,
    schema_json,
    writer_schemas,
)

__all__ = [
    "Codec",
    "ConfluentCodec",
    "DecodeError",
    "EncodeError",
    "SchemaName",
    "SingleObjectCodec",
    "codec_for",
    "parsed_schema",
    "schema_fingerprint",
    "schema_json",
    "writer_schemas",
]
