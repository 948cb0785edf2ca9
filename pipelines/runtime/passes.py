"""The dedup passes of this worker's partitions: the stage functions of
``pipelines/stages/dedup.py`` over a mirror of the ``dedup-vehicle-passes`` table.

The table has one key per camera (or site) and pass, ``<camera>/<folded plate>``
(``table_key``), whose value is the pass as JSON with its held read Avro-encoded
(``to_json``), so each read writes only its own pass. ``PassBook`` is the whole of the
worker's dedup path apart from Kafka: ``fold`` a read, ``settle`` a camera when its tick
comes, ``commit`` what changed once the reads it sent are sent (a crash in between sends
a pass twice, never loses it), and ``take_due`` for the timer that asks for the ticks.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from pipelines.runtime.mirror import TableMirror
from pipelines.stages import dedup
from pipelines.stages.dedup import CameraPasses, DedupPolicy, Folded, VehiclePass
from schemas import Codec
from schemas.keys import dedup_group
from schemas.records import PlateRead

TABLE = "dedup-vehicle-passes"
PASS_RETRY_SECONDS = 5.0  # a tick not acted on by then is asked for again


def table_key(camera_id: str, pass_key: str) -> str:
    return f"{camera_id}/{pass_key}"


def split_table_key(key: str) -> tuple[str, str]:
    """(camera id, pass key); a pass key is a normalised plate, so never holds '/'."""
    camera_id, _, pass_key = key.rpartition("/")
    return camera_id, pass_key


def to_json(vehicle: VehiclePass, partition: int, codec: Codec) -> dict[str, Any]:
    if vehicle.held is not None and vehicle.held_encoded is None:
        vehicle.held_encoded = base64.b64encode(vehicle.held.encode(codec)).decode()
    return {
        "partition": partition,
        "last_seen": vehicle.last_seen,
        "opened": vehicle.opened,
        "reads": vehicle.reads,
        "held": vehicle.held_encoded,
        "held_score": vehicle.held_score,
        "recent_ids": list(vehicle.recent_ids),
    }


def from_json(value: Mapping[str, Any], codec: Codec) -> tuple[int, VehiclePass]:
    """(partition, pass) from a table value; DecodeError, KeyError or ValueError if the
    value is not one."""
    held = value.get("held")
    return int(value["partition"]), VehiclePass(
        last_seen=float(value["last_seen"]),
        opened=float(value["opened"]),
        reads=int(value["reads"]),
        held=PlateRead.decode(codec, base64.b64decode(held)) if held else None,
        held_score=float(value.get("held_score", 0.0)),
        recent_ids=tuple(str(i) for i in value.get("recent_ids", [])),
        held_encoded=str(held) if held else None,
    )


@dataclass(frozen=True)
class StoredPass:
    camera_id: str
    pass_key: str
    partition: int
    vehicle: VehiclePass


class PassLayout:
    """How the passes lie in the table (see the module docstring)."""

    def __init__(self, codec: Codec, clock: Callable[[], float] = time.time) -> None:
        self.codec = codec
        self.clock = clock

    def decode(self, key: Any, value: Any) -> StoredPass:
        camera_id, pass_key = split_table_key(str(key))
        partition, vehicle = from_json(value, self.codec)
        return StoredPass(camera_id, pass_key, partition, vehicle)

    def assemble(self, entries: list[StoredPass]) -> dict[str, CameraPasses]:
        cameras: dict[str, CameraPasses] = {}
        now = self.clock()
        for entry in entries:
            camera = cameras.get(entry.camera_id)
            if camera is None:
                camera = cameras[entry.camera_id] = CameraPasses(entry.partition, last_arrival=now)
            camera.passes[entry.pass_key] = entry.vehicle
        return cameras

    def changes(self, camera_id: str, camera: CameraPasses) -> tuple[dict[str, Any], Iterable[str]]:
        changed, removed = camera.take_changes()
        values = {
            table_key(camera_id, pass_key): to_json(vehicle, camera.partition, self.codec)
            for pass_key, vehicle in changed.items()
        }
        return values, [table_key(camera_id, pass_key) for pass_key in removed]


PassMirror = TableMirror[str, CameraPasses, StoredPass]


@dataclass(frozen=True)
class Settled:
    sent: list[PlateRead]
    idle: bool
    """The camera sent nothing for long enough: forgotten once committed."""


class PassBook:
    """The passes of this worker's cameras (each the camera's site, if it has one)."""

    def __init__(
        self,
        table: MutableMapping[Any, Any],
        codec: Codec,
        policy: DedupPolicy,
        sites: Mapping[str, str],
    ) -> None:
        self.mirror: PassMirror = TableMirror(TABLE, table, PassLayout(codec), self._note_all_due)
        self.policy = policy
        self.sites = sites
        self._due: dict[str, float] = {}
        """camera -> when it next needs the worker: a held pass due, or to be forgotten."""

    def __len__(self) -> int:
        """Passes remembered (read at scrape time: never decodes the table)."""
        return sum(map(len, self.mirror.snapshot()))

    def _note_all_due(self, cameras: dict[str, CameraPasses]) -> None:
        self._due = {c: camera.next_due(self.policy) for c, camera in cameras.items()}

    def group(self, read: PlateRead) -> str:
        return dedup_group(read.camera_id, self.sites)

    def fold(
        self, read: PlateRead, partition: int, now: float, encoded: bytes | None = None
    ) -> tuple[str, Folded]:
        """Folds the read into its camera's passes at worker time ``now``; the camera
        (its group) and what the fold gave. ``encoded``: the read's Avro bytes, if at
        hand, so a pass holding it need not encode it again."""
        group = self.group(read)
        camera = self.mirror.setdefault(group, CameraPasses)
        # Raw reads are keyed by group, so its state goes to this partition's changelog.
        camera.partition = partition
        held = base64.b64encode(encoded).decode() if encoded is not None else None
        return group, dedup.fold_read(camera, read, now, self.policy, held)

    def settle(self, camera_id: str, partition: int, now: float) -> Settled | None:
        """The passes of the camera now due; None for a stale tick (the camera is
        forgotten, or lives in another partition now)."""
        camera = self.mirror.get(camera_id)
        if camera is None or camera.partition != partition:
            return None
        sent = dedup.settle(camera, now, self.policy)
        idle = dedup.is_idle(camera, now, self.policy)
        if idle:
            # Memory and table stay bounded by the cameras in service.
            dedup.forget(camera)
        return Settled(sent, idle)

    def commit(self, camera_id: str, *, forget: bool = False) -> None:
        """Writes the camera's changed passes (inside a stream event of its partition),
        and forgets the camera if asked."""
        camera = self.mirror.get(camera_id)
        if camera is None:
            return
        self.mirror.write(camera_id, camera)
        if forget:
            self.mirror.pop(camera_id)
            self._due.pop(camera_id, None)
        else:
            self._due[camera_id] = camera.next_due(self.policy)

    def take_due(
        self, now: float, settling: Callable[[int], bool] = lambda _partition: True
    ) -> list[tuple[str, int]]:
        """(camera, partition) of each camera due at ``now`` in a partition ``settling``,
        asked again after ``PASS_RETRY_SECONDS`` if nothing comes of it; nothing until the
        table is loaded. A camera of another partition stays due."""
        if not self.mirror.loaded:
            return []
        due = []
        for camera_id in [c for c, at in self._due.items() if at <= now]:
            camera = self.mirror.get(camera_id)
            if camera is None:
                del self._due[camera_id]
                continue
            if not settling(camera.partition):
                continue
            self._due[camera_id] = now + PASS_RETRY_SECONDS
            due.append((camera_id, camera.partition))
        return due
