"""The chained audit write and its verification against the local (secured) Cassandra.

Writes ``--events`` audit events over ``--agencies`` chains in store batches (as the
store agent does, as ``lprx_writer``), then verifies each chain; prints one JSON object
with events per second written and verified. A keyspace of its own, dropped after.

    .venv/bin/python benchmarks/audit_chain.py --events 2000 --agencies 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.cassandra import CassandraStore, connect  # noqa: E402
from connectors.cassandra.audit_queries import AuditChainQueries  # noqa: E402
from connectors.cassandra.rows import audit_day  # noqa: E402
from connectors.cassandra.security import WRITER_ROLE  # noqa: E402
from pipelines.access import Role, as_role, provision  # noqa: E402
from pipelines.services.audit_chain import load_and_verify  # noqa: E402
from pipelines.settings import get_settings  # noqa: E402
from schemas.records import AuditAction, AuditEvent, new_id, utcnow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--agencies", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    uid = uuid.uuid4().hex[:8]
    base = as_role(get_settings(), Role.SETUP)
    settings = base.model_copy(
        update={"topic_prefix": f"bench-{uid}", "cassandra_keyspace": f"bench_{uid}"}
    )
    provision(settings)
    agencies = [f"MN99{n:05d}" for n in range(args.agencies)]
    start = utcnow()
    events = [
        AuditEvent(new_id(), start + timedelta(milliseconds=i), "svc:share",
                   AuditAction.DISSEMINATE, "hit", new_id(),
                   actor_agency_ori=agencies[i % len(agencies)], recipient_agency_ori="MN9990200")
        for i in range(args.events)
    ]  # fmt: skip
    writer = settings.model_copy(update={"cassandra_username": WRITER_ROLE})
    try:
        with CassandraStore(writer, create_schema=False) as store:
            began = time.perf_counter()
            for i in range(0, len(events), args.batch):
                assert all(o.ok for o in store.write_audit(events[i : i + args.batch]))
            write_s = time.perf_counter() - began
            began = time.perf_counter()
            assert all(o.ok for o in store.write_audit(events[: args.batch]))  # a redelivery
            redelivery_s = time.perf_counter() - began
        with CassandraStore(settings, create_schema=False) as admin:
            queries, day = AuditChainQueries(admin.session, admin.keyspace), audit_day(start)
            began = time.perf_counter()
            results = [load_and_verify(queries, a, day, day, {}) for a in agencies]
            verify_s = time.perf_counter() - began
        assert all(r.intact for r in results)
        print(json.dumps({
            "benchmark": "audit_chain", "events": args.events, "agencies": args.agencies,
            "batch": args.batch, "write_events_per_s": round(args.events / write_s, 1),
            "redelivered_batch_s": round(redelivery_s, 3),
            "verify_events_per_s": round(args.events / verify_s, 1),
            "cpus": os.cpu_count(),
        }))  # fmt: skip
    finally:
        cluster, session = connect(settings)
        try:
            session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
        finally:
            cluster.shutdown()


if __name__ == "__main__":
    main()
