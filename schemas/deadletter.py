"""Errors are data: a record a stage cannot handle becomes a DeadLetter."""

from __future__ import annotations

import socket
from datetime import datetime

from schemas.records import DeadLetter, new_id


def dead_letter(
    *,
    stage: str,
    error: BaseException,
    now: datetime,
    worker: str,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | None = None,
    value: bytes | None = None,
    headers: dict[str, bytes] | None = None,
) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=new_id(),
        occurred_at=now,
        stage=stage,
        reason=str(error) or type(error).__name__,
        error_type=type(error).__name__,
        worker=f"{worker}@{socket.gethostname()}",
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        original_key=key,
        original_value=value,
        original_headers=headers or {},
    )
