"""Codecs of lprx's Avro schemas (the ``*.avsc`` files next to this module).

Schemas are parsed once. Two wire encodings:

* Avro single-object encoding (the default): ``C3 01`` + 8-byte little-endian
  CRC-64-AVRO fingerprint of the schema's canonical form + the Avro body. It needs no
  registry. Earlier versions of a schema are kept, self-contained, in ``previous/``
  (``<Name>.<n>.avsc``), so records written before a compatible change (a field added
  with a default) still decode, resolved to the current schema; bytes written with a
  schema this reader does not know are rejected.
* The Confluent wire format (``00`` + 4-byte big-endian schema id + body) when a schema
  registry URL is configured; the writer's schema is fetched from the registry by id.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.repository.base import AbstractSchemaRepository, SchemaRepositoryError
from fastavro.schema import expand_schema, fingerprint, load_schema, to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parent
PREVIOUS_DIR = SCHEMA_DIR / "previous"
NAMESPACE = "lprx"
SINGLE_OBJECT_MARKER = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


class SchemaName(StrEnum):
    FRAME = "Frame"
    PLATE_READ = "PlateRead"
    HIT = "Hit"
    HOTLIST_ENTRY = "HotlistEntry"
    SHARING_AGREEMENT = "SharingAgreement"
    AUDIT_EVENT = "AuditEvent"
    DEAD_LETTER = "DeadLetter"
    HIT_DISPOSITION = "HitDisposition"


class DecodeError(ValueError):
    """Bytes that are not a valid record of the expected schema."""


class EncodeError(ValueError):
    """A record that does not fit its schema."""


class _NamespacedFileRepository(AbstractSchemaRepository):
    """Resolves a named type ``lprx.X`` to the file ``X.avsc`` in this folder."""

    def load(self, name: str) -> Any:
        short = name.removeprefix(f"{NAMESPACE}.")
        path = SCHEMA_DIR / f"{short}.avsc"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise SchemaRepositoryError(f"Failed to load schema {name!r}") from error


@cache
def parsed_schema(name: SchemaName) -> Any:
    """The fastavro-parsed schema, with every named type it uses resolved."""
    return load_schema(
        f"{NAMESPACE}.{name.value}", repo=_NamespacedFileRepository(), _write_hint=False
    )


@cache
def _marked_schema(name: SchemaName) -> Any:
    """The parsed schema with fastavro's mark of one parsed: fastavro parses a schema
    without it again on every record it writes or reads."""
    return fastavro.parse_schema(parsed_schema(name))


@cache
def schema_json(name: SchemaName) -> str:
    """The self-contained schema text (named types inlined), e.g. for a registry."""
    return json.dumps(expand_schema(parsed_schema(name)))


@cache
def schema_fingerprint(name: SchemaName) -> bytes:
    canonical = to_parsing_canonical_form(parsed_schema(name))
    # fastavro prints the CRC-64-AVRO value byte by byte, least significant first,
    # which is exactly the little-endian order single-object encoding wants.
    return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


@cache
def writer_schemas(name: SchemaName) -> dict[bytes, Any]:
    """Fingerprint -> parsed (and marked) schema, for the current schema and each
    earlier version."""
    found = {schema_fingerprint(name): _marked_schema(name)}
    for path in sorted(PREVIOUS_DIR.glob(f"{name.value}.*.avsc")):
        text = json.loads(path.read_text())
        canonical = to_parsing_canonical_form(fastavro.parse_schema(text, _write_hint=False))
        found[bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))] = fastavro.parse_schema(text)
    return found


def _write_body(name: SchemaName, record: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    try:
        fastavro.schemaless_writer(buffer, _marked_schema(name), record)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise EncodeError(f"{name.value} record does not fit its schema: {error}") from error
    return buffer.getvalue()


def _read_body(name: SchemaName, body: bytes, writer: Any = None) -> dict[str, Any]:
    """The record in ``body``, written with ``writer`` (default: the current schema)."""
    buffer = io.BytesIO(body)
    reader = _marked_schema(name)
    try:
        if writer is None or writer is reader:
            record = fastavro.schemaless_reader(buffer, reader, None)
        else:
            record = fastavro.schemaless_reader(buffer, writer, reader)
    except (
        EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError,
        OverflowError, SchemaResolutionError,
    ) as error:  # fmt: skip
        raise DecodeError(f"not a valid {name.value} body: {error}") from error
    if buffer.tell() != len(body):
        raise DecodeError(f"{len(body) - buffer.tell()} trailing bytes after a {name.value} record")
    if not isinstance(record, dict):
        raise DecodeError(f"{name.value} body did not decode to a record")
    return record


class Codec(Protocol):
    def encode(self, name: SchemaName, record: Mapping[str, Any]) -> bytes: ...

    def decode(self, name: SchemaName, data: bytes | None) -> dict[str, Any]: ...


class SingleObjectCodec:
    """Avro single-object encoding; no registry needed."""

    def encode(self, name: SchemaName, record: Mapping[str, Any]) -> bytes:
        return SINGLE_OBJECT_MARKER + schema_fingerprint(name) + _write_body(name, record)

    def decode(self, name: SchemaName, data: bytes | None) -> dict[str, Any]:
        if not data:
            raise DecodeError(f"empty message where a {name.value} was expected")
        if data[:2] != SINGLE_OBJECT_MARKER:
            raise DecodeError(
                f"not Avro single-object encoded (first bytes {data[:2].hex() or 'none'}, "
                f"expected c301)"
            )
        found = data[2:10]
        writer = writer_schemas(name).get(found)
        if writer is None:
            raise DecodeError(
                f"schema fingerprint {found.hex()} is not a known {name.value} schema "
                f"(current {schema_fingerprint(name).hex()})"
            )
        return _read_body(name, data[10:], writer)


class ConfluentCodec:
    """Confluent wire format against a schema registry (``mock://`` works in tests)."""

    def __init__(self, registry_url: str) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self._client = SchemaRegistryClient.new_client({"url": registry_url})
        self._ids: dict[SchemaName, int] = {}
        self._writers: dict[int, Any] = {}

    def _schema_id(self, name: SchemaName) -> int:
        if name not in self._ids:
            from confluent_kafka.schema_registry import Schema

            subject = f"{NAMESPACE}.{name.value}"
            self._ids[name] = int(
                self._client.register_schema(subject, Schema(schema_json(name), "AVRO"))
            )
        return self._ids[name]

    def encode(self, name: SchemaName, record: Mapping[str, Any]) -> bytes:
        return (
            CONFLUENT_MAGIC + self._schema_id(name).to_bytes(4, "big") + _write_body(name, record)
        )

    def decode(self, name: SchemaName, data: bytes | None) -> dict[str, Any]:
        if not data:
            raise DecodeError(f"empty message where a {name.value} was expected")
        if data[:1] != CONFLUENT_MAGIC or len(data) < 5:
            raise DecodeError("not in the Confluent wire format (magic byte 00 missing)")
        found = int.from_bytes(data[1:5], "big")
        if found == self._schema_id(name):
            return _read_body(name, data[5:])
        return _read_body(name, data[5:], self._writer_schema(found))

    def _writer_schema(self, schema_id: int) -> Any:
        """An earlier schema the bytes were written with; resolution to the current one
        fails (DecodeError) if it is another record or an incompatible change."""
        if schema_id not in self._writers:
            from confluent_kafka.schema_registry.error import SchemaRegistryError

            try:
                text = self._client.get_schema(schema_id).schema_str
            except SchemaRegistryError as error:
                raise DecodeError(f"schema id {schema_id} is not in the registry") from error
            self._writers[schema_id] = fastavro.parse_schema(json.loads(text or "null"))
        return self._writers[schema_id]


def codec_for(schema_registry_url: str | None) -> Codec:
    if schema_registry_url:
        return ConfluentCodec(schema_registry_url)
    return SingleObjectCodec()
