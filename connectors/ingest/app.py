"""HTTP ingest for plate-reading cameras.

    POST /v1/openalpr   OpenALPR/Rekor agent webhook (alpr_results, alpr_group)
    POST /v1/reads      a plain JSON read, or a JSON list of them
    POST /v1/uploads    a partner's recorded video (connectors/uploads.py), sent as frames
    GET  /healthz       liveness
    GET  /readyz        readiness: 200 while Kafka answers, else 503 and why
    GET  /metrics       Prometheus

Each camera carries its own credential (connectors/ingest/credentials.py, ``lprx cameras
add``): the credential, never the body, decides the agency ORI, the camera id and kind of
the reads, and for a partner uploader the owner and consent reference. (A legacy agency
token, ``LPRX_INGEST_TOKENS``, decides the agency only; ``camera_kind`` then comes from a
body field, else the ``camera_kind`` query parameter, else FIXED.) What each request gets:

    no, unknown or revoked token  401, an ACCESS_DENIED audit event, nothing kept
    a read of another camera, an
    upload of another camera,
    owner or consent, a reader's
    token on uploads or back       403, an ACCESS_DENIED audit event, nothing kept
    over the credential's rate    429 with Retry-After, nothing kept
    body over the size limit      413, nothing kept (the camera still has it)
    not JSON / not a valid read   422, the original bytes to the dead-letter topic
    collected > 5 min in future   422, the original bytes to the dead-letter topic
    collected past retention      422 "past retention", counted, never kept (the law
                                  says destroy); in a list, the others are accepted
    alpr_alert, heartbeats, other
    OpenALPR data_types           202 {"ignored": reason}, nothing kept: agents retry
                                  any non-2xx forever, and these carry no read
    Kafka queue full, or Kafka    503 with Retry-After (the camera retries)
    not acknowledging in time
    good reads                    202 with their read ids once Kafka has acknowledged
                                  every one, an INGEST audit event per camera

An upload gets 401 as above, 422 for missing or bad parameters (owner, consent_ref,
recorded_at with a time zone...) or a body that is no decodable video (nothing sent), 422
"past retention" for a recording older than retention, 413 past ``upload_max_bytes``,
415 for a body that is not ``video/*`` or ``application/octet-stream``, 503 when Kafka
cannot take its frames, else 202 with the frame report and an INGEST audit event.
Uploads are not dead-lettered: a video is far over any Kafka message.

A request is all or nothing: one invalid read refuses the whole body, so a camera never
has to work out which half of a batch was kept. A refused body that also holds a read
past retention is dead-lettered without its bytes, so the dead-letter topic never keeps
a read the law says to destroy.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

import anyio
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram, make_asgi_app

from connectors.ingest.config import IngestConfig
from connectors.ingest.credentials import TOKEN_PREFIX, CameraCredential, CredentialVerifier
from connectors.ingest.openalpr import (
    AlprGroup,
    AlprResults,
    PlainRead,
    ReadContext,
    reads_from_plain,
)
from connectors.ingest.requests import (
    BodyTooLarge,
    Caller,
    Ignored,
    Parse,
    Screened,
    agency_for,
    documented_body,
    parse_json,
    parse_openalpr,
    read_body,
    screen,
)
from connectors.ingest.uploads import UploadRefused, handle_upload
from connectors.kafka.sink import KafkaSink, RecordSink
from connectors.prometheus import MS_BUCKETS
from schemas.deadletter import dead_letter
from schemas.errors import InvalidRecord, TransientError
from schemas.records import (
    AuditAction,
    AuditEvent,
    AuditOutcome,
    CameraKind,
    PlateRead,
    new_id,
    utcnow,
)

STAGE = "ingest"
WORKER = "lprx-ingest"
# Decoding video is CPU heavy: a few uploads at a time, the rest wait their turn.
UPLOAD_CONCURRENCY = 2
READY_TIMEOUT_S = 2.0

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "lprx_ingest_requests",
    "Ingest HTTP requests by endpoint and outcome (accepted, ignored, unauthorized, "
    "too_large, invalid, expired, unsupported_type, unavailable).",
    ["endpoint", "outcome"],
)
READS = Counter("lprx_ingest_reads", "Reads in ingest requests by outcome.", ["outcome"])
LATENCY_MS = Histogram(
    "lprx_ingest_latency_ms",
    "Ingest request handling time, in milliseconds.",
    ["endpoint"],
    buckets=MS_BUCKETS,
)

# Taken as text and checked after the token, so a request without credentials gets 401
# (and is audited) whatever its query string says.
CameraKindQuery = Annotated[
    str | None,
    Query(
        description="Kind of camera, for bodies that do not say (OpenALPR agents).",
        json_schema_extra={"enum": [kind.value for kind in CameraKind]},
    ),
]


class _Ingest:
    """What both POST endpoints do, in the order of the table in the module docstring."""

    def __init__(self, settings: IngestConfig, sink: RecordSink) -> None:
        self.settings = settings
        self.sink = sink
        self.tokens = {
            ori: secret.get_secret_value().encode()
            for ori, secret in settings.ingest_tokens.items()
            # An empty token would let "Bearer " in: a configuration slip, not a key.
            if secret.get_secret_value()
        }
        self.upload_limiter = anyio.CapacityLimiter(UPLOAD_CONCURRENCY)
        self.verifier = CredentialVerifier(settings.camera_credentials_path)

    async def authenticate(self, request: Request, endpoint: str) -> Caller | Response:
        authorization = request.headers.get("authorization")
        scheme, _, presented = (authorization or "").partition(" ")
        token = presented.strip() if scheme.lower() == "bearer" else ""
        if token.startswith(f"{TOKEN_PREFIX}."):
            if self.verifier.needs_slow_check(token):
                # argon2 is slow on purpose: off the event loop (once per token and process).
                credential = await anyio.to_thread.run_sync(self.verifier.verify, token)
            else:
                credential = self.verifier.verify(token)
            if credential is None:
                return self.denied(request, endpoint, "unknown or revoked camera credential")
            if credential.uploader != (endpoint == "uploads"):
                return self.forbidden(endpoint, credential, "wrong endpoint for the credential")
            wait = self.verifier.allow(credential)
            if wait:
                REQUESTS.labels(endpoint, "rate_limited").inc()
                return JSONResponse(
                    {"error": "over the camera's rate limit"},
                    429,
                    headers={"Retry-After": str(math.ceil(wait))},
                )
            return Caller(credential.agency_ori, credential)
        agency = agency_for(authorization, self.tokens)
        if agency is None:
            return self.denied(request, endpoint, "invalid token" if authorization else "no token")
        return Caller(agency)

    async def handle(
        self, request: Request, endpoint: str, camera_kind_text: str | None, parse: Parse
    ) -> Response:
        caller = await self.authenticate(request, endpoint)
        if isinstance(caller, Response):
            return caller
        try:
            camera_kind = CameraKind(camera_kind_text) if camera_kind_text else None
        except ValueError:
            REQUESTS.labels(endpoint, "invalid").inc()
            known = ", ".join(kind.value for kind in CameraKind)
            return JSONResponse({"error": f"camera_kind must be one of {known}"}, 422)
        limit = self.settings.ingest_max_body_bytes
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            REQUESTS.labels(endpoint, "too_large").inc()
            return JSONResponse({"error": f"body over {limit} bytes"}, 413)
        return await self.accept(body, caller, endpoint, camera_kind or CameraKind.FIXED, parse)

    async def accept(
        self, body: bytes, caller: Caller, endpoint: str, camera_kind: CameraKind, parse: Parse
    ) -> Response:
        agency, credential = caller.agency_ori, caller.credential
        if credential is not None:
            camera_kind = credential.camera_kind
        now = utcnow()
        retention_days = self.settings.retention_for(agency)
        context = ReadContext(
            agency_ori=agency,
            camera_kind=camera_kind,
            retention_days=retention_days,
            received_at=now,
        )
        try:
            parsed = parse(parse_json(body), context)
        except InvalidRecord as error:
            return self.refuse(endpoint, body, agency, error)
        if isinstance(parsed, Ignored):
            REQUESTS.labels(endpoint, "ignored").inc()
            return JSONResponse({"ignored": parsed.reason}, 202)
        if credential is not None:
            if any(read.camera_id != credential.camera_id for read in parsed):
                return self.forbidden(endpoint, credential, "a read of another camera")
            # The kind is the credential's, whatever the body says.
            parsed = [dataclasses.replace(r, camera_kind=credential.camera_kind) for r in parsed]
        screened = screen(parsed, retention_days, now)
        READS.labels("expired").inc(screened.expired)
        if screened.invalid is not None:
            return self.refuse(
                endpoint, body, agency, screened.invalid, keep_body=not screened.expired
            )
        if screened.expired and not screened.accepted:
            REQUESTS.labels(endpoint, "expired").inc()
            return JSONResponse(
                {"error": "past retention", "refused_past_retention": screened.expired}, 422
            )
        return await self.publish(screened, agency, endpoint, now)

    async def publish(
        self, screened: Screened, agency: str, endpoint: str, now: datetime
    ) -> Response:
        try:
            # 202 only for what Kafka acknowledged: a camera told "taken" can forget it.
            await self.sink.publish_reads_acknowledged(
                screened.accepted, self.settings.ingest_ack_timeout_seconds
            )
        except TransientError as error:
            # Reads Kafka took before the failure arrive twice after the camera's retry
            # (under new read ids): dedup folds them as one pass.
            REQUESTS.labels(endpoint, "unavailable").inc()
            log.warning("ingest unavailable: %s", error)
            return JSONResponse(
                {"error": "ingest is busy, retry"}, 503, headers={"Retry-After": "5"}
            )
        request_id = new_id()
        self.audit_ingest(screened.accepted, agency, endpoint, request_id, now)
        READS.labels("accepted").inc(len(screened.accepted))
        REQUESTS.labels(endpoint, "accepted").inc()
        return JSONResponse(
            {
                "request_id": request_id,
                "read_ids": [r.read_id for r in screened.accepted],
                "refused_past_retention": screened.expired,
            },
            202,
        )

    async def upload(self, request: Request) -> Response:
        endpoint = "uploads"
        caller = await self.authenticate(request, endpoint)
        if isinstance(caller, Response):
            return caller
        agency, credential = caller.agency_ori, caller.credential
        bound = None
        if credential is not None and credential.owner and credential.consent_ref:
            bound = (credential.camera_id, credential.owner, credential.consent_ref)
        try:
            report = await handle_upload(
                request, self.settings, self.sink, agency, self.upload_limiter, bound
            )
        except UploadRefused as refused:
            REQUESTS.labels(endpoint, refused.outcome).inc()
            # Reasons name parameters and rules, not values: safe to log.
            log.info("refused an upload from %s: %s", agency, refused.error)
            headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
            return JSONResponse({"error": refused.error}, refused.status, headers=headers)
        REQUESTS.labels(endpoint, "accepted").inc()
        return JSONResponse(report, 202)

    def denied(self, request: Request, endpoint: str, reason: str) -> Response:
        REQUESTS.labels(endpoint, "unauthorized").inc()
        self.sink.audit(
            AuditEvent(
                event_id=new_id(),
                occurred_at=utcnow(),
                actor=f"ip:{request.client.host if request.client else 'unknown'}",
                action=AuditAction.ACCESS_DENIED,
                target_kind="ingest",
                target_id=endpoint,
                outcome=AuditOutcome.DENIED,
                details={"reason": reason},
            )
        )
        return JSONResponse(
            {"error": "a valid agency bearer token is required"},
            401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def forbidden(self, endpoint: str, credential: CameraCredential, reason: str) -> Response:
        REQUESTS.labels(endpoint, "forbidden").inc()
        self.sink.audit(
            AuditEvent(
                event_id=new_id(),
                occurred_at=utcnow(),
                actor=f"camera:{credential.camera_id}",
                actor_agency_ori=credential.agency_ori,
                action=AuditAction.ACCESS_DENIED,
                target_kind="ingest",
                target_id=endpoint,
                outcome=AuditOutcome.DENIED,
                details={"reason": reason, "credential": credential.credential_id},
            )
        )
        return JSONResponse({"error": f"forbidden: {reason}"}, 403)

    def audit_ingest(
        self, reads: list[PlateRead], agency: str, endpoint: str, request_id: str, now: datetime
    ) -> None:
        # One event per camera, so the actor is always the camera that sent the reads.
        by_camera = collections.Counter(read.camera_id for read in reads)
        for camera_id, count in by_camera.items():
            self.sink.audit(
                AuditEvent(
                    event_id=new_id(),
                    occurred_at=now,
                    actor=f"camera:{camera_id}",
                    actor_agency_ori=agency,
                    action=AuditAction.INGEST,
                    target_kind="ingest_request",
                    target_id=request_id,
                    details={"count": str(count), "endpoint": endpoint},
                )
            )

    def refuse(
        self,
        endpoint: str,
        body: bytes,
        agency: str,
        error: InvalidRecord,
        *,
        keep_body: bool = True,
    ) -> Response:
        headers = {"agency_ori": agency.encode(), "endpoint": endpoint.encode()}
        if not keep_body:
            headers["withheld"] = b"the body holds a read past retention"
        self.sink.dead_letter(
            dead_letter(
                stage=STAGE,
                error=error,
                now=utcnow(),
                worker=WORKER,
                topic=f"http:{endpoint}",
                value=body if keep_body else None,
                headers=headers,
            )
        )
        REQUESTS.labels(endpoint, "invalid").inc()
        # The reason names fields and rules, never values: safe to log.
        log.info("refused a %s body from %s: %s", endpoint, agency, error)
        return JSONResponse({"error": str(error)}, 422)


def create_ingest_app(settings: IngestConfig, sink: RecordSink) -> FastAPI:
    """The ingest app; records go to ``sink``, which is flushed on shutdown."""
    ingest = _Ingest(settings, sink)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        sink.flush(10)

    app = FastAPI(title="lprx ingest", version="1", lifespan=lifespan)
    app.mount("/metrics", make_asgi_app())

    async def timed(endpoint: str, handle: Awaitable[Response]) -> Response:
        start = time.perf_counter()
        try:
            return await handle
        finally:
            LATENCY_MS.labels(endpoint).observe((time.perf_counter() - start) * 1000)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready when Kafka answers: a post would otherwise only get 503s."""
        problem = await anyio.to_thread.run_sync(sink.reachable, READY_TIMEOUT_S)
        if problem is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "problem": problem}, status_code=503)

    @app.post(
        "/v1/openalpr", status_code=202, openapi_extra=documented_body(AlprResults, AlprGroup)
    )
    async def openalpr(request: Request, camera_kind: CameraKindQuery = None) -> Response:
        return await timed(
            "openalpr", ingest.handle(request, "openalpr", camera_kind, parse_openalpr)
        )

    @app.post(
        "/v1/reads", status_code=202, openapi_extra=documented_body(PlainRead, list[PlainRead])
    )
    async def plain(request: Request, camera_kind: CameraKindQuery = None) -> Response:
        return await timed("reads", ingest.handle(request, "reads", camera_kind, reads_from_plain))

    @app.post("/v1/uploads", status_code=202)
    async def upload(request: Request) -> Response:
        return await timed("uploads", ingest.upload(request))

    return app


def serve(settings: IngestConfig) -> None:
    """Runs the ingest app with uvicorn until interrupted, producing to Kafka."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not settings.ingest_tokens and not settings.camera_credentials_path.exists():
        # Refusing everything is safe but surprising: say so once, without any secret.
        log.warning("no camera credentials (`lprx cameras add`); every request will get 401")
    sink = KafkaSink(settings, WORKER)
    app = create_ingest_app(settings, sink)
    uvicorn.run(app, host=settings.ingest_host, port=settings.ingest_port, log_level="warning")
    sink.flush(10)
