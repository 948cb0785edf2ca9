"""What the frame producer needs beyond Kafka: the largest frame the OCR stage takes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FramesConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    ocr_max_pixels: int = Field(
        default=4096 * 4096,
        description="Frames larger than this are refused by OCR, so producers downscale.",
    )
