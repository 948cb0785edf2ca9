"""HTTP ingest for plate-reading cameras.

    POST /v1/openalpr   OpenALPR/Rekor agent webhook (alpr_results, alpr_group)
    POST /v1/reads      a plain JSON read, or a JSON list of them
    GET  /healthz       liveness
    GET  /metrics       Prometheus

Each agency's cameras carry that agency's bearer token, and a token only lets a camera
post reads of its own agency. What each request gets:

    no or unknown token           401, an ACCESS_DENIED audit event, nothing kept
    body over the size limit      413, nothing kept (the camera still has it)
    not JSON / not a valid read   422, the original bytes to the dead-letter topic
    collected in the future       422, the original bytes to the dead-letter topic
    collected past retention      dropped and counted, never kept (the law says destroy);
                                  422 if nothing else in the request was accepted
    alpr_alert, other data_types  422 (not reads), dead-lettered like any invalid body
    good reads                    202 with their read ids, an INGEST audit event
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram, make_asgi_app

from connectors.openalpr import ReadContext, reads_from_openalpr, reads_from_plain
from connectors.sink import KafkaSink, RecordSink
from pipelines.deadletter import dead_letter
from pipelines.errors import InvalidRecord
from pipelines.metrics import MS_BUCKETS
from pipelines.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    CameraKind,
    PlateRead,
    new_id,
    utcnow,
)
from pipelines.retention import RetentionExpired
from pipelines.settings import Settings
from pipelines.stages.normalize import normalize_read

STAGE = "ingest"

REQUESTS = Counter(
    "lprx_ingest_requests", "Ingest HTTP requests by endpoint and outcome.", ["endpoint", "outcome"]
)
READS = Counter("lprx_ingest_reads", "Reads in ingest requests by outcome.", ["outcome"])
LATENCY_MS = Histogram(
    "lprx_ingest_latency_ms", "Ingest request handling time, ms.", ["endpoint"], buckets=MS_BUCKETS
)

Parser = Callable[[Any, ReadContext], list[PlateRead]]


def _agency_for(authorization: str | None, tokens: dict[str, str]) -> str | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    presented = authorization.removeprefix("Bearer ").strip().encode()
    agency = None
    # Compare against every token, in constant time each, so timing tells nothing.
    for ori, token in tokens.items():
        if hmac.compare_digest(presented, token.encode()):
            agency = ori
    return agency


def create_ingest_app(settings: Settings, sink: RecordSink) -> FastAPI:
    tokens = {ori: secret.get_secret_value() for ori, secret in settings.ingest_tokens.items()}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        sink.flush(10)

    app = FastAPI(title="lprx ingest", version="1", lifespan=lifespan)
    app.mount("/metrics", make_asgi_app())

    def denied(request: Request, endpoint: str) -> JSONResponse:
        sink.audit(
            AuditEvent(
                event_id=new_id(),
                occurred_at=utcnow(),
                actor=f"ip:{request.client.host if request.client else 'unknown'}",
                action=AuditAction.ACCESS_DENIED,
                target_kind="ingest",
                target_id=endpoint,
                outcome=AuditOutcome.DENIED,
            )
        )
        return JSONResponse({"error": "a valid agency bearer token is required"}, 401)

    def refuse(endpoint: str, body: bytes, agency: str, error: Exception) -> JSONResponse:
        sink.dead_letter(
            dead_letter(
                stage=STAGE,
                error=error,
                now=utcnow(),
                worker="lprx-ingest",
                topic=f"http:{endpoint}",
                value=body,
                headers={"agency_ori": agency.encode()},
            )
        )
        REQUESTS.labels(endpoint, "invalid").inc()
        return JSONResponse({"error": str(error)}, 422)

    async def ingest(  # noqa: PLR0911 - one return per outcome in the module docstring
        request: Request, endpoint: str, parse: Parser, camera_kind: CameraKind
    ) -> JSONResponse:
        agency = _agency_for(request.headers.get("authorization"), tokens)
        if agency is None:
            REQUESTS.labels(endpoint, "unauthorized").inc()
            return denied(request, endpoint)
        declared = int(request.headers.get("content-length") or 0)
        if declared > settings.ingest_max_body_bytes:
            REQUESTS.labels(endpoint, "too_large").inc()
            return JSONResponse({"error": "body too large"}, 413)
        body = await request.body()
        if len(body) > settings.ingest_max_body_bytes:
            REQUESTS.labels(endpoint, "too_large").inc()
            return JSONResponse({"error": "body too large"}, 413)
        now = utcnow()
        context = ReadContext(
            agency_ori=agency,
            camera_kind=camera_kind,
            retention_days=settings.retention_for(agency),
            received_at=now,
        )
        try:
            reads = parse(json.loads(body), context)
            accepted, expired = _screen(reads, settings.retention_for(agency), now)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return refuse(endpoint, body, agency, InvalidRecord(f"body is not JSON: {error}"))
        except InvalidRecord as error:
            return refuse(endpoint, body, agency, error)
        READS.labels("expired").inc(expired)
        if not accepted:
            REQUESTS.labels(endpoint, "expired" if expired else "empty").inc()
            reason = "past retention" if expired else "no reads in the request"
            return JSONResponse({"error": reason, "refused_past_retention": expired}, 422)
        for read in accepted:
            sink.publish_read(read)
        READS.labels("accepted").inc(len(accepted))
        REQUESTS.labels(endpoint, "accepted").inc()
        sink.audit(
            AuditEvent(
                event_id=new_id(),
                occurred_at=now,
                actor=f"camera:{accepted[0].camera_id}",
                actor_agency_ori=agency,
                action=AuditAction.INGEST,
                target_kind="read",
                target_id=accepted[0].read_id,
                details={"reads": str(len(accepted)), "endpoint": endpoint},
            )
        )
        return JSONResponse(
            {"read_ids": [r.read_id for r in accepted], "refused_past_retention": expired}, 202
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/openalpr", status_code=202)
    async def openalpr(
        request: Request, camera_kind: Annotated[CameraKind, Query()] = CameraKind.FIXED
    ) -> JSONResponse:
        start = time.perf_counter()
        try:
            return await ingest(request, "openalpr", reads_from_openalpr, camera_kind)
        finally:
            LATENCY_MS.labels("openalpr").observe((time.perf_counter() - start) * 1000)

    @app.post("/v1/reads", status_code=202)
    async def plain(request: Request) -> JSONResponse:
        start = time.perf_counter()
        try:
            return await ingest(request, "reads", reads_from_plain, CameraKind.FIXED)
        finally:
            LATENCY_MS.labels("reads").observe((time.perf_counter() - start) * 1000)

    return app


def _screen(
    reads: list[PlateRead], retention_days: int, now: datetime
) -> tuple[list[PlateRead], int]:
    """The reads to accept, and how many were past retention. Raises InvalidRecord for
    a read the pipeline would refuse anyway (so the camera hears about it now)."""
    accepted: list[PlateRead] = []
    expired = 0
    for read in reads:
        try:
            normalize_read(read, retention_days, now)
        except RetentionExpired:
            expired += 1
            continue
        accepted.append(read)
    return accepted, expired


def serve(settings: Settings) -> None:
    import uvicorn

    sink = KafkaSink(settings, "lprx-ingest")
    app = create_ingest_app(settings, sink)
    if not settings.ingest_tokens:
        # Refusing everything is safe but surprising: say so once, without any secret.
        print("lprx ingest: no LPRX_INGEST_TOKENS configured; every request will get 401")
    uvicorn.run(app, host=settings.ingest_host, port=settings.ingest_port, log_level="warning")
    sink.flush(10)
