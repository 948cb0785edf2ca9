"""Agent ``ocr``: frames of cameras that cannot read plates -> raw plate reads.

Each frame is read on the OCR thread (``stages/ocr.py``), then fused with the other
frames of its vehicle (``stages/ocr_fusion.py``). A fused read's crop is stored first
(stage ``ocr-crop``), then the read goes to ``reads.raw``. Open vehicles are closed by
the ``ocr-fusion-quiet`` timer when their camera goes quiet, and all of them when the
worker's partitions are revoked or it stops cleanly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from faust.types import EventT, StreamT

from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.guard import Guard, Origin
from pipelines.runtime.wiring import Wiring
from pipelines.settings import Settings
from pipelines.stages import ocr_fusion
from pipelines.stages.ocr_fusion import FusionOutcome, OcrRead, VehicleFusion
from schemas.keys import raw_read_key
from schemas.records import Frame, PlateRead, utcnow

if TYPE_CHECKING:
    from pipelines.ocr.reader import PlateReader

log = logging.getLogger(__name__)

STAGE = ocr_fusion.STAGE
CROP_STAGE = "ocr-crop"


def load_reader(settings: Settings) -> PlateReader:
    # Imported here: only OCR workers pay for loading the models.
    from pipelines.stages import ocr as ocr_stage

    return ocr_stage.load_reader(settings)


class Ocr:
    def __init__(
        self,
        ctx: Context,
        reader_factory: Callable[[Settings], PlateReader] = load_reader,
    ) -> None:
        self.ctx = ctx
        # A frame's latency is its whole reading (decode, OCR, fusion), timed in on_frame.
        self.guard = Guard(ctx, STAGE, times_steps=False)
        self.crops = Guard(ctx, CROP_STAGE)
        self.reader_factory = reader_factory
        self.reader: PlateReader | None = None
        # Frame reads of one vehicle per camera, until fused.
        self.fusion = VehicleFusion(ctx.settings)

    async def consume(self, stream: StreamT[bytes]) -> None:
        await self.load()
        async for event in stream.events():
            await self.on_frame(event)

    async def load(self) -> None:
        if self.reader is None:
            loop = asyncio.get_running_loop()
            factory = partial(self.reader_factory, self.ctx.settings)
            self.reader = await loop.run_in_executor(self.ctx.ocr_executor, factory)

    async def on_frame(self, event: EventT[bytes]) -> None:
        with metrics.timed(STAGE):
            await self.guard.run(event, partial(self._read_frame, event))

    async def _read_frame(self, event: EventT[bytes]) -> None:
        from pipelines.stages import ocr as ocr_stage

        frame = await self.guard.step(
            event, partial(Frame.decode, self.ctx.codec, event.message.value)
        )
        if frame is None:
            return
        assert self.reader is not None, "load() first"
        read_frame = partial(
            ocr_stage.try_frame_to_read, frame, self.reader, self.ctx.settings, utcnow()
        )
        self.fusion.reading = frame.camera_id
        try:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self.ctx.ocr_executor, read_frame)
        finally:
            self.fusion.reading = None
        if isinstance(outcome, OcrRead):
            metrics.count(STAGE, "frame_read")
            await self.emit(self.fusion.add(outcome, time.monotonic()))
        elif isinstance(outcome, ocr_stage.NoPlateFound):
            metrics.count(STAGE, "no_plate")
        else:
            await self.guard.dead_letter(event, outcome)

    async def flush_quiet(self) -> None:
        """Timer: the vehicles of cameras quiet for the fusion window."""
        try:
            outcomes = self.fusion.expire(time.monotonic())
        except Exception:
            log.exception("%s: quiet vehicles not closed", STAGE)
            return
        await self.emit(outcomes)

    async def flush_all(self) -> None:
        """Partitions going elsewhere, or a clean stop: every open vehicle now."""
        try:
            outcomes = self.fusion.drain()
        except Exception:
            log.exception("%s: open vehicles not closed", STAGE)
            return
        await self.emit(outcomes)

    async def emit(self, outcomes: Sequence[FusionOutcome]) -> None:
        """Sends each fused read, its crop stored first; counts groups that fell short.
        A read that cannot be sent is dead-lettered as itself (it has no one event)."""
        for outcome in outcomes:
            if outcome.read is None:
                metrics.count(STAGE, "too_few_agreeing")
                continue
            origin = partial(_origin, self.ctx, outcome.read.read)
            await self.guard.run(origin, partial(self._emit, outcome))

    async def _emit(self, outcome: FusionOutcome) -> None:
        assert outcome.read is not None
        read = await self._store_crop(outcome.read)
        if read is None:
            return
        metrics.count(STAGE, "ok")
        metrics.count(STAGE, "fused_frames", outcome.frames)
        await self.ctx.send_raw_read(read)

    async def _store_crop(self, ocr_read: OcrRead) -> PlateRead | None:
        """The read to send once its crop is stored; None if already past retention."""
        read = ocr_read.read
        if read.image_ref is None:
            return read
        crop = ocr_read.crop()
        (outcome,) = await self.crops.store(lambda store: store.write_crops([crop], utcnow()))
        if outcome.ok:
            metrics.count(CROP_STAGE, "ok")
            return read
        if outcome.expired:
            metrics.count(CROP_STAGE, "expired")
            return None
        # The read matters more than its picture: send it without a crop reference.
        metrics.count(CROP_STAGE, "failed")
        log.warning("%s: crop of read %s not stored: %s", CROP_STAGE, read.read_id, outcome.error)
        return dataclasses.replace(read, image_ref=None)


def _origin(ctx: Context, read: PlateRead) -> Origin:
    return Origin(
        topic=ctx.topics.raw_reads,
        key=raw_read_key(read, ctx.settings.dedup_sites),
        value=read.encode(ctx.codec),
    )


def register(wiring: Wiring) -> Ocr:
    ctx = wiring.ctx
    agent = Ocr(ctx)
    wiring.agent(ctx.topics.frames, "ocr", agent.consume)
    # A vehicle is emitted at most this long after its camera went quiet.
    interval = max(0.1, ctx.settings.ocr_fusion_window_seconds / 4)
    wiring.timer(interval, "ocr-fusion-quiet", agent.flush_quiet)
    wiring.on_revoked_or_shutdown(agent.flush_all)
    return agent
