"""OCR stage: a frame from a camera that cannot read plates becomes a plate read.

Each frame is read on its own here; ``stages.ocr_fusion`` then fuses the reads of one
vehicle from one camera into the one read the pipeline sees. A read's ``image_ref`` is
``crop:<read_id>``: the worker stores the plate crop under the read's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipelines.ocr.errors import OcrInputError
from pipelines.ocr.reader import NoPlate, PlateReader
from pipelines.settings import Settings
from pipelines.stages import ocr_fusion
from pipelines.stages.ocr_fusion import OcrRead
from schemas.errors import InvalidRecord
from schemas.records import Frame, PlateCandidate, PlateRead, ReadSource, crop_ref, new_id
from schemas.retention import expires_at

STAGE = ocr_fusion.STAGE


@dataclass(frozen=True)
class NoPlateFound:
    """A good frame with no readable plate: counted, not an error."""

    frame_id: str


def load_reader(settings: Settings) -> PlateReader:
    return PlateReader.from_settings(settings)


def frame_to_read(
    frame: Frame, reader: PlateReader, settings: Settings, now: datetime
) -> OcrRead | NoPlateFound:
    """Reads the plate in ``frame``, with its crop; raises a PermanentError for a bad
    image."""
    try:
        result = reader.read(frame.image)
    except OcrInputError as error:
        raise InvalidRecord(str(error)) from error
    if isinstance(result, NoPlate) or result.confidence < settings.ocr_min_confidence:
        return NoPlateFound(frame.frame_id)
    read_id = new_id()
    read = PlateRead(
        read_id=read_id,
        agency_ori=frame.agency_ori,
        camera_id=frame.camera_id,
        camera_kind=frame.camera_kind,
        collected_at=frame.collected_at,
        received_at=now,
        latitude=frame.latitude,
        longitude=frame.longitude,
        plate=result.plate,
        # OpenALPR reports confidence 0-100; the recogniser gives 0-1.
        confidence=round(result.confidence * 100.0, 2),
        candidates=tuple(
            PlateCandidate(plate=c.plate, confidence=round(c.confidence * 100.0, 2))
            for c in result.candidates
        ),
        plate_box=result.box,
        image_ref=crop_ref(read_id) if result.crop_jpeg else None,
        source=ReadSource.SERVER_OCR,
        source_ref=frame.frame_id,
        expires_at=expires_at(frame.collected_at, settings.retention_for(frame.agency_ori)),
    )
    return OcrRead(read, result.crop_jpeg)


def try_frame_to_read(
    frame: Frame, reader: PlateReader, settings: Settings, now: datetime
) -> OcrRead | NoPlateFound | Exception:
    """Like frame_to_read, with any error returned as data: it runs on a thread pool,
    and a model failure on one frame must reach the dead-letter topic, not the agent."""
    try:
        return frame_to_read(frame, reader, settings, now)
    except Exception as error:
        return error
