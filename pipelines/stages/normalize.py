"""Normalise a raw read: canonical plate text, sane times, retention checked.

The rules are the record's own (``schemas/validation.py``), shared with the ingest."""

from __future__ import annotations

from schemas.validation import normalize_read

STAGE = "normalize"

__all__ = ["STAGE", "normalize_read"]
