"""The Faust app: one thin agent per stage around the plain stage functions.

Agents consume raw bytes and decode inside the stage (never through Faust's decode
path, which drops bad messages). Every failure becomes a DeadLetter with the original
bytes, the stream goes on, and each outcome is counted per stage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

import faust
from faust.streams import Stream
from faust.types import EventT, StreamT, TopicT
from mode import BaseSignalT

from connectors.cassandra import CassandraStore
from connectors.kafka.follower import CompactedTopicFollower
from connectors.kafka.security import faust_credentials
from connectors.kafka.topics import ensure_topics, partner_topic
from pipelines import metrics
from pipelines.settings import Settings
from pipelines.stages import dedup, dispositions, match, normalize, ocr_fusion, share
from schemas import DecodeError, codec_for
from schemas.deadletter import dead_letter
from schemas.errors import InvalidRecord, PermanentError, StoreUnavailable
from schemas.plates import confusable_key, is_wildcard
from schemas.records import (
    AuditEvent,
    AuditOutcome,
    Frame,
    Hit,
    HitDisposition,
    HotlistCategory,
    HotlistEntry,
    PlateRead,
    SharingAgreement,
    utcnow,
)
from schemas.retention import RetentionExpired

log = logging.getLogger(__name__)

T = TypeVar("T")
ALL_STAGES = ("ocr", "normalize", "match", "share", "store")
STORE_BACKOFF_MAX_S = 30.0
CROP_STAGE = "ocr-crop"
PASS_RETRY_SECONDS = 5.0  # a dedup tick not acted on by then is sent again


def _raw_topic(app: faust.App, name: str) -> TopicT:
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def _headers(headers: Any) -> dict[str, bytes]:
    """Kafka headers as a dict, whichever shape the client handed them over in."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return {str(k): v if isinstance(v, bytes) else str(v).encode() for k, v in pairs}


class Pipeline:
    """Holds what the agents share: topics, codec, in-memory views, the DLQ path."""

    def __init__(self, settings: Settings) -> None:
        unknown = set(settings.worker_stages) - set(ALL_STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; known: {ALL_STAGES}")
        self.settings = settings
        self.stages = tuple(s for s in ALL_STAGES if s in settings.worker_stages)
        self.codec = codec_for(settings.schema_registry_url)
        app_id = f"{settings.topic_prefix}-{'-'.join(self.stages)}"
        # One folder per app: Faust names a table's RocksDB files by table and partition
        # only, so apps sharing a folder would read each other's offsets. Faust creates
        # only the last folder of the path.
        data_dir = (settings.table_data_dir or settings.cache_dir / "faust") / app_id
        data_dir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            app_id,
            broker=f"kafka://{settings.kafka_bootstrap_servers}",
            broker_credentials=faust_credentials(settings),
            store=settings.table_store,
            datadir=str(data_dir),
            topic_partitions=settings.topic_partitions,
            value_serializer="raw",
            key_serializer="raw",
            web_enabled=False,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            producer_linger_ms=5,
        )
        topic = settings.topic
        self.frames = _raw_topic(self.app, topic("frames"))
        self.raw_reads = _raw_topic(self.app, topic("reads.raw"))
        self.reads = _raw_topic(self.app, topic("reads"))
        self.hits = _raw_topic(self.app, topic("hits"))
        self.audit = _raw_topic(self.app, topic("audit"))
        self.dispositions = _raw_topic(self.app, topic("dispositions"))
        self.hotlist_changes = _raw_topic(self.app, topic("hotlist"))
        self.deadletters = _raw_topic(self.app, topic("deadletter"))
        self.dedup_ticks = _raw_topic(self.app, topic("dedup-ticks"))
        self._partner_topics: dict[str, TopicT] = {}
        # Blocking work runs off the event loop: OCR on its own thread so a slow frame
        # never holds up Cassandra writes or admin calls.
        self.blocking = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lprx-io")
        self.ocr_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lprx-ocr")
        self._store: CassandraStore | None = None
        self._store_lock = asyncio.Lock()
        self.hotlist = match.HotlistIndex(
            max_distance=settings.match_max_edit_distance,
            fuzzy_min_length=settings.match_fuzzy_min_length,
        )
        self.agreements = share.AgreementBook()
        self.followers: list[CompactedTopicFollower[Any]] = []
        # Dedup state per camera (stages/dedup.py), restored from its changelog when a
        # worker restarts, including passes held but not yet sent.
        self.dedup_policy = dedup.DedupPolicy.from_settings(settings)
        # camera -> when it next needs the worker: a held pass due, or to be forgotten
        self._passes_due: dict[str, float] = {}
        # The passes of this worker's partitions, decoded, in front of the table.
        self._cameras: dict[str, dedup.CameraPasses] = {}
        self._cameras_loaded = False
        self._dedup_lock = asyncio.Lock()
        self.passes = self.app.Table(
            "dedup-vehicle-passes",
            partitions=settings.topic_partitions,
            schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
        )
        # Last alert per (folded plate, entry), one suppressor per hits partition, in
        # front of a table: a restarted or rebalanced share worker does not re-alert.
        self._suppressors: dict[int, share.HitSuppressor] = {}
        self._suppressors_loaded = False
        self.alerts = self.app.Table(
            "hit-alerts",
            partitions=settings.topic_partitions,
            schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
        )
        self._followers_lock = asyncio.Lock()
        # Frame reads of one vehicle per camera, until fused (see stages/ocr_fusion.py).
        self.fusion = ocr_fusion.VehicleFusion(settings)
        # Read at scrape time, so the gauges follow every reload and revocation.
        metrics.HOTLIST_ENTRIES.set_function(lambda: len(self.hotlist))
        metrics.AGREEMENTS.set_function(lambda: len(self.agreements))
        metrics.DEDUP_PASSES.set_function(lambda: sum(map(len, list(self._cameras.values()))))
        self._register_agents()

    # --- shared plumbing ---------------------------------------------------------

    async def to_dead_letter(self, stage: str, event: EventT[bytes], error: BaseException) -> None:
        message = event.message
        letter = dead_letter(
            stage=stage,
            error=error,
            now=utcnow(),
            worker=self.app.conf.id,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=_headers(message.headers),
        )
        metrics.count(stage, "dead_letter")
        await self.deadletters.send(key=message.key, value=letter.encode(self.codec))

    async def guarded(self, stage: str, event: EventT[bytes], step: Callable[[], T]) -> T | None:
        """Runs one record through a stage; failures become data, never a crash."""
        try:
            with metrics.timed(stage):
                return step()
        except RetentionExpired as error:
            # Past its destruction date: the law says keep nothing, so no dead letter.
            metrics.count(stage, "expired")
            log.info("%s: read refused, %s", stage, error)
        except (DecodeError, PermanentError) as error:
            await self.to_dead_letter(stage, event, error)
        except Exception as error:  # a bug must not stop the stream; keep the bytes
            log.exception("%s: unexpected error", stage)
            await self.to_dead_letter(stage, event, error)
        return None

    async def run_blocking(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.blocking, fn)

    async def store(self) -> CassandraStore:
        """One Cassandra session per worker, shared by the store agents."""
        async with self._store_lock:
            if self._store is None:
                self._store = await self.run_blocking(
                    lambda: CassandraStore(self.settings, create_schema=False)
                )
            return self._store

    async def send_read(self, topic: TopicT, read: PlateRead) -> None:
        # Raw reads meet per site (or camera) for dedup; deduplicated reads per camera.
        key = (
            self.settings.dedup_group(read.camera_id) if topic is self.raw_reads else read.camera_id
        )
        await topic.send(key=key.encode(), value=read.encode(self.codec))

    async def send_audit(self, event: AuditEvent) -> None:
        key = (event.actor_agency_ori or "").encode()
        await self.audit.send(key=key, value=event.encode(self.codec))

    async def partner_topic(self, agency_ori: str) -> TopicT:
        if agency_ori not in self._partner_topics:
            spec = partner_topic(self.settings, agency_ori)
            await self.run_blocking(lambda: ensure_topics(self.settings, [spec]))
            self._partner_topics[agency_ori] = _raw_topic(self.app, spec.name)
        return self._partner_topics[agency_ori]

    # --- followers of compacted topics --------------------------------------------

    def _start_followers(self) -> None:
        if "match" in self.stages:
            loading = True

            def put_entry(_key: str, entry: HotlistEntry) -> None:
                # While the topic is read from the start, the fuzzy index is built once
                # at the end instead of after every entry.
                self.hotlist.put(entry, defer_fuzzy=loading)

            def loaded() -> None:
                nonlocal loading
                self.hotlist.compact()
                loading = False

            self.followers.append(
                CompactedTopicFollower(
                    self.settings,
                    self.settings.topic("hotlist"),
                    lambda b: HotlistEntry.decode(self.codec, b),
                    put_entry,
                    self.hotlist.retract,
                    loaded,
                )
            )
        if "share" in self.stages or "store" in self.stages:
            self.followers.append(
                CompactedTopicFollower(
                    self.settings,
                    self.settings.topic("agreements"),
                    lambda b: SharingAgreement.decode(self.codec, b),
                    lambda _k, agreement: self.agreements.put(agreement),
                    self.agreements.revoke,
                )
            )
        for follower in self.followers:
            follower.start()

    async def wait_for_followers(self) -> None:
        """Blocks an agent until the hotlist and agreements are loaded in full."""
        async with self._followers_lock:
            if not self.followers:
                await self.run_blocking(self._start_followers)
                log.info("lprx worker: following hotlist and agreements")
        while not all(f.caught_up for f in self.followers):
            await asyncio.sleep(0.05)

    # --- agents --------------------------------------------------------------------

    def _register_agents(self) -> None:
        app = self.app

        @app.on_before_shutdown.connect
        def stop_followers(
            _sender: Any, /, *_args: Any, signal: BaseSignalT[Any], **_kwargs: Any
        ) -> None:
            for follower in self.followers:
                follower.stop()

        if "ocr" in self.stages:
            app.agent(self.frames, name="ocr")(self._ocr_agent)
            # A vehicle is emitted at most this long after its camera went quiet.
            interval = max(0.1, self.settings.ocr_fusion_window_seconds / 4)
            app.timer(interval, name="ocr-fusion-quiet")(self._flush_quiet_vehicles)

            async def flush_vehicles(_sender: Any, /, *_args: Any, **_kwargs: Any) -> None:
                # Partitions going elsewhere, or a clean stop: emit every open group now.
                await self._emit_fused(self.fusion.drain())

            app.on_partitions_revoked.connect(flush_vehicles)
            app.on_before_shutdown.connect(flush_vehicles)
        if "normalize" in self.stages:
            app.agent(self.raw_reads, name="normalize")(self._normalize_agent)
            # A held pass is sent at most this long after its settle time is up.
            interval = max(0.1, self.dedup_policy.settle_seconds / 4)
            app.timer(interval, name="dedup-settle")(self._request_settled_passes)
            app.agent(self.dedup_ticks, name="dedup-ticks")(self._dedup_ticks_agent)

            def forget_cameras(_sender: Any, /, *_args: Any, **_kwargs: Any) -> None:
                # Partitions move: the table, restored from the changelog, is the truth.
                self._cameras_loaded = False

            async def load_cameras() -> None:
                # Recovered, passes held before a restart or a rebalance included.
                self._load_cameras()

            app.on_partitions_revoked.connect(forget_cameras)
            app.on_partitions_assigned.connect(forget_cameras)
            self.passes.on_recover(load_cameras)
        if "match" in self.stages:
            app.agent(self.reads, name="match")(self._match_agent)
            # Consumed as a group member: each hotlist change is checked once, by one
            # worker, against the reads already stored.
            app.agent(self.hotlist_changes, name="historical")(self._historical_agent)
        if "share" in self.stages:
            app.agent(self.hits, name="share")(self._share_agent)

            def forget_suppressors(_sender: Any, /, *_args: Any, **_kwargs: Any) -> None:
                self._suppressors_loaded = False  # the table is the truth

            async def load_suppressors() -> None:
                self._load_suppressors()

            app.on_partitions_revoked.connect(forget_suppressors)
            app.on_partitions_assigned.connect(forget_suppressors)
            self.alerts.on_recover(load_suppressors)
        if "store" in self.stages:
            app.agent(self.reads, name="store-reads")(self._store_reads_agent)
            app.agent(self.hits, name="store-hits")(self._store_hits_agent)
            app.agent(self.audit, name="store-audit")(self._store_audit_agent)
            app.agent(self.dispositions, name="store-dispositions")(self._dispositions_agent)

    async def _ocr_agent(self, stream: StreamT[bytes]) -> None:
        # Imported here: only OCR workers pay for loading Paddle.
        from pipelines.stages import ocr as ocr_stage

        loop = asyncio.get_running_loop()
        reader = await loop.run_in_executor(
            self.ocr_executor, lambda: ocr_stage.load_reader(self.settings)
        )
        async for event in stream.events():
            try:
                frame = Frame.decode(self.codec, event.message.value)
            except DecodeError as error:
                await self.to_dead_letter(ocr_stage.STAGE, event, error)
                continue
            self.fusion.reading = frame.camera_id
            try:
                outcome = await loop.run_in_executor(
                    self.ocr_executor,
                    partial(ocr_stage.try_frame_to_read, frame, reader, self.settings, utcnow()),
                )
            finally:
                self.fusion.reading = None
            if isinstance(outcome, ocr_fusion.OcrRead):
                metrics.count(ocr_stage.STAGE, "frame_read")
                await self._emit_fused(self.fusion.add(outcome, time.monotonic()))
            elif isinstance(outcome, ocr_stage.NoPlateFound):
                metrics.count(ocr_stage.STAGE, "no_plate")
            else:
                await self.to_dead_letter(ocr_stage.STAGE, event, outcome)

    async def _flush_quiet_vehicles(self) -> None:
        await self._emit_fused(self.fusion.expire(time.monotonic()))

    async def _emit_fused(self, outcomes: Sequence[ocr_fusion.FusionOutcome]) -> None:
        """Sends each fused read, its crop stored first; counts groups that fell short."""
        for outcome in outcomes:
            if outcome.read is None:
                metrics.count(ocr_fusion.STAGE, "too_few_agreeing")
                continue
            read = await self._store_crop(outcome.read)
            if read is None:
                continue
            metrics.count(ocr_fusion.STAGE, "ok")
            metrics.count(ocr_fusion.STAGE, "fused_frames", outcome.frames)
            await self.send_read(self.raw_reads, read)

    async def _store_crop(self, ocr_read: ocr_fusion.OcrRead) -> PlateRead | None:
        """The read to send once its crop is stored; None if already past retention."""
        read = ocr_read.read
        if read.image_ref is None:
            return read
        store = await self.store()
        write = partial(store.write_crops, [ocr_read.crop()], utcnow())
        (outcome,) = await self._retrying(CROP_STAGE, partial(self.run_blocking, write))
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

    async def _normalize_agent(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():

            def step(value: bytes | None = event.message.value) -> PlateRead:
                read = PlateRead.decode(self.codec, value)
                return normalize.normalize_read(
                    read, self.settings.retention_for(read.agency_ori), utcnow()
                )

            read = await self.guarded(normalize.STAGE, event, step)
            if read is None:
                continue
            metrics.count(normalize.STAGE, "ok")
            # Passes are per site, or per camera for a camera on no site.
            group = self.settings.dedup_group(read.camera_id)
            async with self._dedup_lock:
                camera = self._camera_passes(group)
                # Reads are keyed by group, so its state goes to this partition's changelog.
                camera.partition = event.message.partition
                folded = dedup.fold_read(camera, read, time.time(), self.dedup_policy)
                if folded.redelivered:
                    metrics.count(dedup.STAGE, "redelivered")
                elif folded.duplicate:
                    metrics.count(dedup.STAGE, "duplicate")
                await self._send_passes(group, camera, folded.sent)

    def _camera_passes(self, camera_id: str) -> dedup.CameraPasses:
        if not self._cameras_loaded:
            self._load_cameras()
        return self._cameras.setdefault(camera_id, dedup.CameraPasses())

    def _load_cameras(self) -> None:
        """Decodes the table (this worker's partitions, once recovered) into memory:
        fuzzy matching needs all of a camera's passes at hand."""
        self._cameras.clear()
        self._passes_due.clear()
        for key, value in list(self.passes.items()):
            camera_id, pass_key = dedup.split_table_key(key)
            try:
                partition, vehicle = dedup.from_json(value, self.codec)
            except (DecodeError, KeyError, TypeError, ValueError, AttributeError):
                # Only this pass's dedup memory is lost: its next read starts a new pass.
                log.exception("%s: pass %s unreadable; forgotten", dedup.STAGE, key)
                continue
            camera = self._cameras.setdefault(
                camera_id, dedup.CameraPasses(partition, last_arrival=time.time())
            )
            camera.passes[pass_key] = vehicle
        for camera_id, camera in self._cameras.items():
            self._note_due(camera_id, camera)
        self._cameras_loaded = True

    def _note_due(self, camera_id: str, camera: dedup.CameraPasses) -> None:
        self._passes_due[camera_id] = camera.next_due(self.dedup_policy)

    async def _send_passes(
        self, camera_id: str, camera: dedup.CameraPasses, sent: Sequence[PlateRead]
    ) -> None:
        """Sends the reads of passes now due, then writes the passes that changed: a
        crash in between sends a pass twice (dedup is at least once), never loses it.
        Runs inside a stream event of the camera's partition, where Faust writes tables."""
        for read in sent:
            # One outcome per read: "ok" for the read a pass sends, "duplicate" (counted
            # when folded) for each of the others.
            metrics.count(dedup.STAGE, "ok")
            await self.send_read(self.reads, read)
        changed, removed = camera.take_changes()
        for pass_key, vehicle in changed.items():
            value = dedup.to_json(vehicle, camera.partition, self.codec)
            self.passes[dedup.table_key(camera_id, pass_key)] = value
        for pass_key in removed:
            key = dedup.table_key(camera_id, pass_key)
            if key in self.passes:
                del self.passes[key]
        self._note_due(camera_id, camera)

    async def _request_settled_passes(self) -> None:
        """Asks for each held pass whose settle time is up (its camera gone quiet) to be
        sent, and for each camera idle long enough to be forgotten. Faust writes a table
        only inside a stream event of the key's partition, so the timer sends a tick to
        that partition of the ticks topic instead of acting."""
        if not self._cameras_loaded:
            return  # until the table is recovered (see _register_agents)
        now = time.time()
        for camera_id in [c for c, due in self._passes_due.items() if due <= now]:
            camera = self._cameras[camera_id]
            # Asked again later if the tick is lost or the partition has moved on.
            self._passes_due[camera_id] = now + PASS_RETRY_SECONDS
            await self.dedup_ticks.send(
                key=camera_id.encode(), value=camera_id.encode(), partition=camera.partition
            )

    async def _dedup_ticks_agent(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            camera_id = (event.message.value or b"").decode(errors="replace")
            async with self._dedup_lock:
                if not self._cameras_loaded:
                    self._load_cameras()
                camera = self._cameras.get(camera_id)
                if camera is None or camera.partition != event.message.partition:
                    continue  # a stale tick; the camera is forgotten or lives elsewhere
                now = time.time()
                sent = dedup.settle(camera, now, self.dedup_policy)
                idle = dedup.is_idle(camera, now, self.dedup_policy)
                if idle:
                    # Memory and table stay bounded by the cameras in service.
                    dedup.forget(camera)
                await self._send_passes(camera_id, camera, sent)
                if idle:
                    del self._cameras[camera_id]
                    del self._passes_due[camera_id]
                    metrics.count("dedup-cameras", "forgotten")

    async def _match_agent(self, stream: StreamT[bytes]) -> None:
        await self.wait_for_followers()
        # Faust hands agents a Stream; its interface type lacks take_events.
        batches = cast(Stream[bytes], stream).take_events(
            self.settings.match_batch_size, within=self.settings.match_batch_seconds
        )
        async for events in batches:
            reads: list[PlateRead] = []
            kept: list[EventT[bytes]] = []
            for event in events:
                read = await self.guarded(
                    match.STAGE, event, partial(PlateRead.decode, self.codec, event.message.value)
                )
                if read is not None:
                    reads.append(read)
                    kept.append(event)
            if not reads:
                continue
            start = time.perf_counter()
            outcomes = match.match_reads_guarded(reads, self.hotlist, utcnow())
            metrics.observe_each(match.STAGE, time.perf_counter() - start, len(reads))
            for event, outcome in zip(kept, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    await self.to_dead_letter(match.STAGE, event, outcome)
                elif outcome is None:
                    metrics.count(match.STAGE, "no_hit")
                else:
                    metrics.count(match.STAGE, "hit")
                    await self.hits.send(
                        key=share.hit_key(outcome), value=outcome.encode(self.codec)
                    )

    async def _historical_agent(self, stream: StreamT[bytes]) -> None:
        """Checks each entry added to a hotlist against the reads already stored, once:
        an entry changed later (priority, dates), or the topic read again by a new
        consumer group, raises nothing twice (``hotlist_checks``)."""
        store = await self.store()
        stage = match.HISTORICAL_STAGE
        async for event in stream.events():
            if event.message.value is None:
                # A retraction raises nothing; listed again, the entry is checked again.
                entry_id = (event.message.key or b"").decode(errors="replace")
                await self._retrying(
                    stage, partial(self.run_blocking, partial(store.forget_entry_check, entry_id))
                )
                continue

            def step(value: bytes | None = event.message.value) -> HotlistEntry:
                return HotlistEntry.decode(self.codec, value)

            entry = await self.guarded(stage, event, step)
            if entry is None or is_wildcard(entry.plate):
                continue
            folded = confusable_key(entry.plate)
            checked = partial(store.entry_checked, entry.entry_id, folded)
            if await self._retrying(stage, partial(self.run_blocking, checked)):
                metrics.count(stage, "already_checked")
                continue
            # Reads stored under a confusable spelling of the plate are hits too.
            like = partial(store.stored_reads_like, entry.plate)
            stored = await self._retrying(stage, partial(self.run_blocking, like))
            for hit in match.historical_hits(entry, stored, utcnow()):
                metrics.count(stage, "hit")
                await self.hits.send(key=share.hit_key(hit), value=hit.encode(self.codec))
            # Marked after the hits are sent: a crash in between checks it again.
            mark = partial(store.mark_entry_checked, entry.entry_id, folded, utcnow())
            await self._retrying(stage, partial(self.run_blocking, mark))
            metrics.count(stage, "ok")

    def _suppressor(self, partition: int) -> share.HitSuppressor:
        if not self._suppressors_loaded:
            self._load_suppressors()
        return self._suppressors.setdefault(partition, self._new_suppressor())

    def _new_suppressor(self) -> share.HitSuppressor:
        return share.HitSuppressor(timedelta(seconds=self.settings.hit_suppression_seconds))

    def _load_suppressors(self) -> None:
        """The alerts of this worker's partitions, from the table, oldest first."""
        self._suppressors.clear()
        alerts = []
        for key, value in list(self.alerts.items()):
            try:
                alerts.append((float(value["at"]), int(value["partition"]), str(key)))
            except (KeyError, TypeError, ValueError):
                # Only this repeat's memory is lost: at worst it alerts once more.
                log.exception("%s: alert %s unreadable; forgotten", share.STAGE, key)
        for at, partition, key in sorted(alerts):
            suppressor = self._suppressors.setdefault(partition, self._new_suppressor())
            suppressor.remember(key, datetime.fromtimestamp(at, UTC))
        self._suppressors_loaded = True

    def _write_alerts(self, partition: int, suppressor: share.HitSuppressor) -> None:
        """Runs inside a hit's stream event: Faust writes the table to its partition."""
        changed, removed = suppressor.take_changes()
        for key, at in changed.items():
            self.alerts[key] = {"at": at.timestamp(), "partition": partition}
        for key in removed:
            if key in self.alerts:
                del self.alerts[key]

    async def _share_agent(self, stream: StreamT[bytes]) -> None:
        await self.wait_for_followers()
        async for event in stream.events():

            def step(value: bytes | None = event.message.value) -> tuple[Hit, list[share.Delivery]]:
                hit = Hit.decode(self.codec, value)
                return hit, share.deliveries(hit, self.agreements, utcnow())

            outcome = await self.guarded(share.STAGE, event, step)
            if outcome is None:
                continue
            hit, deliveries = outcome
            # Hits are keyed by folded plate, so a car's repeats meet in one partition.
            partition = event.message.partition
            suppressor = self._suppressor(partition)
            if not suppressor.should_alert(hit):
                metrics.count(share.STAGE, "suppressed")
                continue
            for delivery in deliveries:
                topic = await self.partner_topic(delivery.recipient_ori)
                await topic.send(key=hit.read.plate.encode(), value=event.message.value)
                await self.send_audit(share.dissemination_audit(hit, delivery, utcnow()))
                metrics.HITS_DELIVERED.labels(delivery.recipient_ori).inc()
            # Written after delivery: a crash in between alerts twice, never not at all.
            self._write_alerts(partition, suppressor)
            metrics.count(share.STAGE, "ok")

    # --- store ---------------------------------------------------------------------

    async def _store_batches(
        self,
        stream: StreamT[bytes],
        stage: str,
        decode: Callable[[bytes | None], T],
        write: Callable[[Sequence[T]], Awaitable[list[Any]]],
    ) -> None:
        # Faust hands agents a Stream; its interface type lacks take_events.
        async for events in cast(Stream[bytes], stream).take_events(
            self.settings.store_batch_size, within=self.settings.store_batch_seconds
        ):
            records: list[T] = []
            kept: list[EventT[bytes]] = []
            for event in events:

                def step(value: bytes | None = event.message.value) -> T:
                    return decode(value)

                record = await self.guarded(stage, event, step)
                if record is not None:
                    records.append(record)
                    kept.append(event)
            if not records:
                continue
            outcomes = await self._retrying(stage, partial(write, records))
            for event, outcome in zip(kept, outcomes, strict=True):
                if outcome.ok:
                    metrics.count(stage, "ok")
                elif outcome.expired:
                    metrics.count(stage, "expired")
                else:
                    await self.to_dead_letter(stage, event, PermanentError(outcome.error))

    async def _retrying(self, stage: str, call: Callable[[], Awaitable[T]]) -> T:
        """Cassandra down is transient: hold the batch (and so the partition) and retry."""
        delay = 0.5
        while True:
            try:
                with metrics.timed(stage):
                    return await call()
            except StoreUnavailable as error:
                metrics.count(stage, "retry")
                log.warning("%s: %s; retrying in %.1f s", stage, error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_BACKOFF_MAX_S)

    async def _store_reads_agent(self, stream: StreamT[bytes]) -> None:
        async def write(reads: Sequence[PlateRead]) -> list[Any]:
            store = await self.store()
            outcomes = await self.run_blocking(lambda: store.write_reads(reads, utcnow()))
            now = utcnow()
            for read in reads:
                metrics.READ_AGE_MS.labels("store").observe(
                    (now - read.collected_at).total_seconds() * 1000.0
                )
            return outcomes

        await self._store_batches(stream, "store", lambda b: PlateRead.decode(self.codec, b), write)

    async def _store_hits_agent(self, stream: StreamT[bytes]) -> None:
        async def write(hits: Sequence[Hit]) -> list[Any]:
            store = await self.store()
            return await self.run_blocking(lambda: store.write_hits(hits, utcnow()))

        await self._store_batches(stream, "store-hits", lambda b: Hit.decode(self.codec, b), write)

    async def _store_audit_agent(self, stream: StreamT[bytes]) -> None:
        async def write(events: Sequence[AuditEvent]) -> list[Any]:
            store = await self.store()
            return await self.run_blocking(lambda: store.write_audit(events))

        await self._store_batches(
            stream, "store-audit", lambda b: AuditEvent.decode(self.codec, b), write
        )

    async def _dispositions_agent(self, stream: StreamT[bytes]) -> None:
        """Stores each disposition on its hit, if the deciding agency received the hit."""
        await self.wait_for_followers()
        store = await self.store()
        async for event in stream.events():

            def step(value: bytes | None = event.message.value) -> HitDisposition:
                return HitDisposition.decode(self.codec, value)

            disposition = await self.guarded(dispositions.STAGE, event, step)
            if disposition is None:
                continue
            found = await self.run_blocking(partial(store.hit_category, disposition))
            try:
                if found is None:
                    raise InvalidRecord(f"no stored hit {disposition.hit_id} (expired or unknown)")
                category, ttl = found
                dispositions.authorize(
                    disposition, HotlistCategory(category), self.agreements, utcnow()
                )
            except InvalidRecord as error:
                await self.send_audit(
                    dispositions.disposition_audit(disposition, AuditOutcome.DENIED)
                )
                await self.to_dead_letter(dispositions.STAGE, event, error)
                continue
            await self._retrying(
                dispositions.STAGE,
                partial(self.run_blocking, partial(store.write_disposition, disposition, ttl)),
            )
            await self.send_audit(dispositions.disposition_audit(disposition, AuditOutcome.SUCCESS))
            metrics.count(dispositions.STAGE, "ok")


def create_pipeline(settings: Settings) -> Pipeline:
    return Pipeline(settings)
