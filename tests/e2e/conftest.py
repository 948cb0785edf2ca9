"""The e2e tier's one running pipeline: a worker and an ingest process, shared by every
e2e test (see ``harness``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from connectors.cassandra import CassandraStore
from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.topic import publish_entries
from connectors.kafka.agreements import publish_agreement
from connectors.kafka.topics import make_producer
from pipelines.demo import SAMPLES
from pipelines.settings import Settings
from schemas.records import HotlistCategory
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.e2e.harness import (
    CODEC,
    HISTORICAL_MARKER,
    NO_AGREEMENT_MARKER,
    OTHER,
    OWNER,
    SUPPRESSION_MARKER,
    TOKENS,
    Running,
)
from tests.factories import an_agreement


@pytest.fixture(scope="session")
def running(servers: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    from pipelines.ocr.models import ensure_models

    ensure_models(servers)
    settings = unique_settings(
        servers,
        topic_partitions=1,
        dedup_window_seconds=60.0,
        store_batch_seconds=0.2,
        metrics_port=free_port(),
        ingest_port=free_port(),
    )
    provision(settings)
    producer = make_producer(settings, "e2e")
    manifest = json.loads((SAMPLES / "frames" / "manifest.json").read_text())
    first = manifest["frames"][0]
    # Another demo-hotlist frame than the first (and than the fusion test's car), so the
    # OCR hit test reads a frame of its own.
    hit_frame = next(f for f in manifest["frames"][1:] if f["demo_hotlist"])
    hotlist = (
        "plate,state,category,case_number\n"
        "HOT1234,MN,STOLEN_VEHICLE,\n"
        "SUP1234,MN,STOLEN_VEHICLE,\n"
        "DIS4321,MN,STOLEN_VEHICLE,\n"
        f"{hit_frame['plate']},{hit_frame['region'][-2:].upper()},STOLEN_VEHICLE,\n"
        f"{NO_AGREEMENT_MARKER},MN,AMBER_ALERT,\n"
        f"{SUPPRESSION_MARKER},MN,STOLEN_VEHICLE,\n"
        f"{HISTORICAL_MARKER},MN,STOLEN_VEHICLE,\n"
    )
    source = HotlistSource("e2e", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    publish_entries(settings, producer, CODEC, parse_csv(hotlist, source).entries)
    publish_agreement(settings, producer, CODEC, an_agreement())  # owner -> partner, stolen
    publish_agreement(
        settings,
        producer,
        CODEC,
        an_agreement(
            agreement_id=f"{OWNER}->{OTHER}",
            partner_agency_ori=OTHER,
            hit_categories=(HotlistCategory.AMBER_ALERT,),
        ),
    )
    logs = tmp_path_factory.mktemp("e2e-logs")
    env = settings_env(settings)
    worker = Process(
        ["worker", "--metrics-port", str(settings.metrics_port), "--loglevel", "info"],
        env,
        logs / "worker.log",
    )
    ingest_env = {
        **env,
        "LPRX_INGEST_PORT": str(settings.ingest_port),
        "LPRX_INGEST_TOKENS": json.dumps(TOKENS),
    }
    ingest = Process(["ingest"], ingest_env, logs / "ingest.log")
    ingest_url = f"http://127.0.0.1:{settings.ingest_port}"
    metrics_url = f"http://127.0.0.1:{settings.metrics_port}"
    store = CassandraStore(settings)
    try:

        def ingest_up() -> bool:
            assert ingest.alive(), ingest.output()
            try:
                return httpx.get(f"{ingest_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        def worker_up() -> bool:
            assert worker.alive(), worker.output()
            try:
                return httpx.get(f"{metrics_url}/metrics", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ingest_up, 60, "the ingest endpoint")
        # Its /metrics first: a test may read a metric before it posts anything.
        wait_for(worker_up, 60, "the worker's metrics endpoint")
        yield Running(
            settings,
            ingest_url,
            producer,
            store,
            first["plate"],
            (SAMPLES / "frames" / first["file"]).read_bytes(),
            hit_frame["plate"],
            (SAMPLES / "frames" / hit_frame["file"]).read_bytes(),
        )
        assert worker.alive(), f"the worker died during the tests:\n{worker.output()}"
    except BaseException:
        print("--- worker log ---\n", worker.output(), "\n--- ingest log ---\n", ingest.output())
        raise
    finally:
        worker.stop()
        ingest.stop()
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
        store.close()
