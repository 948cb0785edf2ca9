"""A deleted Faust table entry leaves the worker's RocksDB files once the worker purges
them (the test reads the files), and the database of a partition served elsewhere goes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pipelines.runtime import local_tables
from pipelines.runtime.app import make_app
from pipelines.settings import Settings


def files_holding(folder: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


def a_table(tmp_path: Path) -> Any:
    settings = Settings(table_data_dir=tmp_path, kafka_security_protocol="PLAINTEXT")
    app = make_app(settings, "lprx-normalize")
    return app.Table("dedup-vehicle-passes", partitions=2)


def test_a_deleted_entry_leaves_the_rocksdb_files(tmp_path: Path) -> None:
    table = a_table(tmp_path)
    # The database Faust opens for a partition, with Faust's options; written and
    # deleted as Faust's store does (put, delete), a pass's key holding its plate.
    db = table.data._db_for_partition(0)
    db.put(b'"cam-1/GONE042"', b'{"held": "R09ORTA0Mg== GONE042"}')
    db.put(b'"cam-1/LIVE042"', b'{"held": "LIVE042"}')
    db.delete(b'"cam-1/GONE042"')
    folder = table.data.partition_path(0)
    assert files_holding(folder, b"GONE042")  # in the write-ahead log

    assert local_tables.purge_open([table]) == 1

    assert files_holding(folder, b"GONE042") == []
    assert files_holding(folder, b"LIVE042")  # the live entry stays, and reads back
    assert table.data._db_for_partition(0)[b'"cam-1/LIVE042"'] == b'{"held": "LIVE042"}'


def test_the_database_of_a_partition_served_elsewhere_is_removed(tmp_path: Path) -> None:
    table = a_table(tmp_path)
    table.data._db_for_partition(0).put(b'"cam-1/LIVE042"', b"{}")
    table.data._db_for_partition(1).put(b'"cam-2/MOVD042"', b"{}")
    moved = table.data.partition_path(1)
    table.data._dbs.pop(1).close()  # revoked: Faust forgets it, the files stay
    tables_dir = moved.parent

    # Not yet: it was written less than the purge interval ago.
    assert local_tables.remove_unserved([table], tables_dir, 3600) == []
    old = time.time() - 7200
    for path in [moved, *moved.iterdir()]:
        os.utime(path, (old, old))
    assert local_tables.remove_unserved([table], tables_dir, 3600) == [moved]
    assert not moved.exists()
    assert table.data.partition_path(0).exists()  # the open one stays
