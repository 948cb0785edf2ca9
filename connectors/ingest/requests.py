"""What the ingest makes of a request before it reaches Kafka: who sent it, its body
read within the size limit and parsed, its reads screened by the rules of a read, and
the request bodies /openapi.json documents. Plain functions; ``app.py`` wires them."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from pydantic import TypeAdapter

from connectors.ingest.credentials import CameraCredential
from connectors.ingest.openalpr import (
    READ_DATA_TYPES,
    ReadContext,
    openalpr_data_type,
    reads_from_openalpr,
)
from schemas.errors import InvalidRecord
from schemas.records import (
    PlateRead,
)
from schemas.retention import RetentionExpired
from schemas.validation import normalize_read


class BodyTooLarge(Exception):
    """The body passed the configured limit while it was being read."""


@dataclass(frozen=True)
class Ignored:
    """A message that carries no read, acknowledged so its sender does not retry."""

    reason: str


Parse = Callable[[Any, ReadContext], list[PlateRead] | Ignored]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: one camera's credential, or (legacy) an agency-wide token."""

    agency_ori: str
    credential: CameraCredential | None = None


@dataclass(frozen=True)
class Screened:
    accepted: list[PlateRead]
    expired: int
    invalid: InvalidRecord | None


def agency_for(authorization: str | None, tokens: dict[str, bytes]) -> str | None:
    """The ORI whose token is presented as ``Bearer <token>``, or None."""
    scheme, _, presented = (authorization or "").partition(" ")
    # RFC 6750: the scheme is case-insensitive.
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    candidate = presented.strip().encode()
    agency = None
    # Compare against every token, each in constant time, so timing tells nothing.
    for ori, token in tokens.items():
        if hmac.compare_digest(candidate, token):
            agency = ori
    return agency


def parse_openalpr(payload: Any, ctx: ReadContext) -> list[PlateRead] | Ignored:
    data_type = openalpr_data_type(payload)
    if data_type not in READ_DATA_TYPES:
        return Ignored(f"data_type {data_type[:40]!r} carries no read")
    return reads_from_openalpr(payload, ctx)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; raises InvalidRecord (NaN/Infinity included)."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; deep nesting recurses.
        raise InvalidRecord(f"body is not JSON: {error}") from None


def screen(reads: list[PlateRead], retention_days: int, now: datetime) -> Screened:
    """Checks every read the way the normalize stage will, so the camera hears now."""
    accepted: list[PlateRead] = []
    expired = 0
    invalid: InvalidRecord | None = None
    for index, read in enumerate(reads):
        try:
            normalize_read(read, retention_days, now)
        except RetentionExpired:
            expired += 1
            continue
        except InvalidRecord as error:
            prefix = f"read {index}: " if len(reads) > 1 else ""
            invalid = invalid or InvalidRecord(f"{prefix}{error}")
            continue
        accepted.append(read)
    return Screened(accepted, expired, invalid)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` (a lying Content-Length too)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def documented_body(*shapes: Any) -> dict[str, Any]:
    """The request body a route documents in /openapi.json. The routes read the bytes
    themselves (to dead-letter what does not parse), so FastAPI cannot infer it."""
    schemas = [_inlined(TypeAdapter(shape).json_schema()) for shape in shapes]
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": schemas}}},
        }
    }


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its ``$defs`` references replaced by the definitions (the body
    models hold no recursion), so it stands alone inside one operation."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
