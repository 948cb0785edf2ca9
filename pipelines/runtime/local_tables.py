"""The worker's local copies of its Faust tables (RocksDB, one database per table and
partition under ``<table_data_dir>/<app id>/``), kept from outliving their entries.

A table entry that holds a read (a dedup pass's held read, a hit alert's plate) is
deleted when its window has passed; Faust then deletes the key from RocksDB, but RocksDB
only writes a tombstone: the value stays in the write-ahead log until the memtable is
flushed (Faust's memtable is 64 MiB, so for days on a quiet worker) and in the SST files
until a compaction merges the tombstone with it. Every ``table_purge_seconds`` the worker
therefore

- flushes and compacts each open database (``purge_open``): the WAL that held the value
  is deleted and the compaction drops the value and its tombstone;
- removes the database of a partition this worker no longer serves (``remove_unserved``),
  once it has been closed that long: Faust leaves it on disk at a rebalance, and would
  recover it from the changelog anyway were the partition to come back.

So a deleted entry leaves the worker's disk within ``table_purge_seconds`` (1 h), and a
partition that moved elsewhere within twice that. Shown by
``tests/unit/pipelines/runtime/test_local_tables.py``, which reads the RocksDB files.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_PARTITION_DB = re.compile(r"(?P<table>.+)-(?P<partition>\d+)\.db")


def _open_databases(store: Any) -> dict[int, Any]:
    # Faust's RocksDB store keeps its open databases, by partition, in ``_dbs`` (no public
    # accessor); a memory store has none and nothing on disk.
    dbs = getattr(store, "_dbs", None)
    return dict(dbs) if isinstance(dbs, dict) else {}


def _compact_options() -> Any:
    import rocksdict

    options = rocksdict.CompactOptions()
    # Rewrite the last level too: a file moved down whole keeps its tombstones, and a
    # tombstone's key (``<camera>/<plate>``) is itself a copy of a read.
    options.set_bottommost_level_compaction(rocksdict.BottommostLevelCompaction.force())
    return options


def purge_open(tables: Iterable[Any]) -> int:
    """Flushes, compacts and reopens every open RocksDB database of ``tables``; returns
    how many. Reopening starts a new MANIFEST: the old one lists the key range of every
    SST file the database ever had (so the first and last keys of deleted data)."""
    purged = 0
    for table in tables:
        store = table.data
        for partition, db in _open_databases(store).items():
            db.flush()
            db.compact_range(None, None, _compact_options())
            # Synchronous, with no await in between: no agent uses the database meanwhile.
            db.close()
            store._dbs[partition] = store._open_for_partition(partition)
            purged += 1
    return purged


def remove_unserved(tables: Iterable[Any], data_dir: Path, older_than_s: float) -> list[Path]:
    """Removes the database folders under ``data_dir`` of the tables' partitions that
    are not open here and have not been written for ``older_than_s``; returns them."""
    open_paths = set()
    names = set()
    for table in tables:
        names.add(table.name)
        open_paths |= {table.data.partition_path(p) for p in _open_databases(table.data)}
    removed = []
    now = time.time()
    for folder in sorted(data_dir.glob("*.db")) if data_dir.is_dir() else []:
        match = _PARTITION_DB.fullmatch(folder.name)
        if not match or match["table"] not in names or folder in open_paths:
            continue
        if now - _last_written(folder) >= older_than_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    if removed:
        log.info("removed the local tables of partitions served elsewhere: %s", removed)
    return removed


def _last_written(folder: Path) -> float:
    times = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()]
    return max(times, default=folder.stat().st_mtime)
