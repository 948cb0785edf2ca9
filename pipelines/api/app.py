"""`lprx api`: the HTTP API for people and their tools (OpenAPI at ``/openapi.json``).

    GET  /health                    liveness and the system-use banner   (no login)
    GET  /readyz                    200 while Kafka, Cassandra and the agreements are
                                    there, else 503 and what is missing   (no login)
    POST /v1/login                  password + TOTP code -> session      (no login)
    POST /v1/logout, GET /v1/me     the session
    POST /v1/reads/search           scoped, justified, audited search
    GET  /v1/hits                   the hits of one's agency and shared with it
    POST /v1/hits/{id}/disposition  what one's agency decided
    POST /v1/crops/{read_id}        a plate crop (justified)
    GET  /v1/audit                  the audit trail of one's agency (auditor, supervisor)
    GET  /v1/deadletters            dead letters without their bytes (operator)
    POST /v1/holds, /v1/holds/preserve, GET /v1/holds, /v1/holds/due,
    POST /v1/holds/{id}/review, /v1/holds/{id}/release   holds (supervisor)
    POST /v1/audit/verify           the agency's hash chain proven intact (auditor)
    GET  /public/transparency       the public log of use, HTML or CSV    (no login)
    POST /v1/hotlists, /v1/agreements, /v1/cameras, DELETE ...   an agency's administrator
    POST /v1/agreements/{partner}/approve, .../reject   a widening's second approver
    POST /v1/cameras/{id}/move, GET /v1/camera-notices, POST .../filed  the camera registry
    POST /v1/audit/report           the biennial audit's export (auditor)
    POST /v1/people, /v1/service-accounts, GET /v1/people        people (admin, operator)
    POST /v1/people/{username}/reset   a one-time password and second factor (admin, operator)
    POST /v1/me/password            one's own new password (the only route, with logout,
                                    of a session whose password someone else set)

The API lives in ``pipelines/`` because it composes the application services
(``pipelines.services``) with the identity service; connectors stay edge systems.
Errors are answers, never a 500: a refusal 403 (audited), an unknown thing 404, a bad
request 400 or 422, Kafka or Cassandra not answering 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pipelines.api import admin, audit, cameras, holds, people, reads
from pipelines.api.deps import ApiServices, authenticate, is_console
from schemas.errors import (
    AccessDenied,
    ConfigurationError,
    LprxError,
    NotFound,
    RequestRefused,
    TransientError,
)

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/readyz", "/v1/login", "/openapi.json", "/docs", "/redoc"})
# Public by law (13.824 subd. 5: the log of use); nothing under it names a plate.
PUBLIC_PREFIX = "/public/"


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(PUBLIC_PREFIX)


def _status(error: LprxError) -> int:
    if isinstance(error, AccessDenied):
        return 403
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, RequestRefused):
        return 400
    if isinstance(error, TransientError | ConfigurationError):
        return 503
    return 400


def create_api_app(services: ApiServices) -> FastAPI:
    app = FastAPI(
        title="lprx",
        summary="Scoped, justified and audited access to shared ALPR reads and hits.",
        version="1",
    )
    app.state.services = services

    @app.exception_handler(LprxError)
    async def lprx_error(_request: Request, error: LprxError) -> JSONResponse:
        status = _status(error)
        headers = {"Retry-After": "5"} if status == 503 else None
        return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)

    @app.middleware("http")
    async def credential_first(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The credential is checked before the body is even parsed, so a caller without
        # a valid one gets 401 (audited) whatever it sends, never a hint from a 4xx.
        # A console page authenticates with the API's own functions (its cookie and CSRF
        # token), and answers a missing login with the login page rather than a 401.
        if not is_open(request.url.path) and not is_console(request.url.path):
            try:
                principal = await run_in_threadpool(authenticate, request, services, None)
            except HTTPException as refused:
                return JSONResponse({"detail": refused.detail}, status_code=refused.status_code,
                                    headers=refused.headers)  # fmt: skip
            request.state.principal = principal
        return await call_next(request)

    @app.get("/readyz", tags=["public"])
    def readyz() -> JSONResponse:
        """Ready while the agreements are read and Kafka and Cassandra answer, so a
        load balancer sends no one to an API that could only answer 503."""
        problems = services.readiness() if services.readiness is not None else []
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    app.include_router(people.router)
    app.include_router(reads.router)
    app.include_router(admin.router)
    app.include_router(cameras.router)
    app.include_router(holds.router)
    app.include_router(audit.router)
    from pipelines.console import install_console

    install_console(app)  # its pages check the same credential themselves (a login page)
    return app


# Longer than clients keep an idle connection (httpx: 5 s, uvicorn's own default too):
# a server closing it as the client reuses it fails that post (ReadError), which a
# camera posting steadily met under load.
KEEP_ALIVE_SECONDS = 30


def serve(settings: object) -> None:
    """Runs the API with uvicorn (HTTPS with an lprx CA certificate) until interrupted."""
    import uvicorn

    from pipelines.api.wiring import running_services, tls_files
    from pipelines.settings import Settings

    assert isinstance(settings, Settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    # Before any connection: a missing certificate must stop the start, not follow it.
    cert, key = tls_files(settings) if settings.api_tls else (None, None)
    with running_services(settings) as services:
        app = create_api_app(services)
        uvicorn.run(
            app, host=settings.api_host, port=settings.api_port, log_level="warning",
            ssl_certfile=str(cert) if cert else None, ssl_keyfile=str(key) if key else None,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )  # fmt: skip
