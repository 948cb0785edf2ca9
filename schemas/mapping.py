"""Records <-> Avro dicts, derived once per record type from its annotations.

Every record is a dataclass whose fields mirror its ``.avsc`` file, so the mapping is
not written by hand: cattrs generates (and caches) one structuring and one
unstructuring function per type, handling enums, nested records, tuples of records,
optional fixed-size tuples and maps. Values Avro already has in their Python form
(timestamps as aware datetimes, bytes) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from cattrs import Converter

T = TypeVar("T")

# Tuples become lists: fastavro would read a tuple in a union as a (branch, value) pair.
_converter = Converter(unstruct_collection_overrides={Sequence: list, tuple: list})
for _passthrough in (datetime, bytes):
    _converter.register_structure_hook(_passthrough, lambda value, _type: value)
    _converter.register_unstructure_hook(_passthrough, lambda value: value)


def to_wire(record: object) -> dict[str, Any]:
    """The record as the dict fastavro writes (enums as their symbols, tuples as lists)."""
    data: dict[str, Any] = _converter.unstructure(record)
    return data


def from_wire(record_type: type[T], data: dict[str, Any]) -> T:
    """The record of ``record_type`` that fastavro read as ``data``."""
    return _converter.structure(data, record_type)
