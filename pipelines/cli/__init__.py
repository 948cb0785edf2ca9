"""The ``lprx`` command line: services, setup, workers, loaders and audited look-ups.

Each command is thin: it parses options, calls an application service
(``pipelines.services``) and formats what comes back with rich. The commands live by
group: ``workers`` (setup, worker, ingest, models, demo), ``cameras`` (frames),
``hotlists``, ``agreements``, ``partner``, ``reads`` (the audited look-ups), ``people``
(login, accounts), ``deadletters`` (listed, and replayed), ``audit`` (the trail and its
proof), ``holds``, ``transparency``, ``top`` (live rates, latency and lag for an SRE) and
``services`` (the local servers). Every command that reads or changes data acts as the
person logged in (``lprx login``) through the API.
"""

from __future__ import annotations

import faulthandler
import logging

import typer

from pipelines.cli import (
    agreements,
    audit,
    cameras,
    deadletters,
    holds,
    hotlists,
    partner,
    people,
    reads,
    top,
    transparency,
    workers,
)

app = typer.Typer(help=__doc__.split("\n\n")[0], no_args_is_help=True,
                  pretty_exceptions_show_locals=False)  # fmt: skip
app.command()(workers.setup)
app.command()(workers.worker)
app.command()(workers.regroup)
app.command()(workers.ingest)
app.command()(workers.api)
app.command()(people.login)
app.command()(people.logout)
app.command()(people.password)
app.add_typer(people.app, name="people")
app.command("models")(workers.models_setup)
app.command()(cameras.frames)
app.add_typer(hotlists.app, name="hotlist")
app.add_typer(agreements.app, name="agreements")
app.add_typer(partner.app, name="partner")
app.add_typer(reads.app, name="reads")
app.add_typer(deadletters.app, name="deadletters")
app.add_typer(audit.app, name="audit")
app.add_typer(holds.app, name="holds")
app.add_typer(transparency.app, name="transparency")
app.command()(workers.demo)
app.command()(top.top)


def _mount_optional_apps() -> None:
    from pipelines.cli.services import app as services_app

    app.add_typer(services_app, name="services", help="Local Kafka, Cassandra (and Keycloak).")
    from pipelines.cli.partners import app as partners_app

    app.add_typer(partners_app, name="partners", help="Partner agencies' Kafka access.")
    from pipelines.cli.camera_credentials import app as cameras_app

    app.add_typer(cameras_app, name="cameras", help="Per-camera ingest credentials.")
    from pipelines.cli.identity import app as identity_app

    app.add_typer(identity_app, name="identity", help="An agency's own identity provider.")
    from pipelines.cli.retention import app as retention_app

    app.add_typer(retention_app, name="retention", help="Faust changelogs of this prefix.")
    from pipelines.ocr.evaluate import app as ocr_app

    app.add_typer(ocr_app, name="ocr", help="OCR accuracy on a labelled folder.")


_mount_optional_apps()


def main() -> None:
    # A crash inside a native library (librdkafka, the Cassandra driver's libev reactor,
    # ONNX Runtime) then leaves each thread's Python stack in the log: names, no values.
    faulthandler.enable()
    logging.basicConfig(level=logging.WARNING)
    app()
