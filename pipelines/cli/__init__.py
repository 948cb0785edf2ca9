"""The ``lprx`` command line: services, setup, workers, loaders and audited look-ups.

Each command is thin: it parses options, calls an application service
(``pipelines.services``) and formats what comes back with rich. The commands live by
group: ``workers`` (setup, worker, ingest, models, demo), ``cameras`` (frames),
``hotlists``, ``agreements``, ``partner``, ``reads`` and ``deadletters`` (the audited
look-ups; dead letters replayed) and
``services`` (the local servers).
"""

from __future__ import annotations

import logging

import typer

from pipelines.cli import agreements, cameras, deadletters, hotlists, partner, reads, workers

app = typer.Typer(help=__doc__.split("\n\n")[0], no_args_is_help=True,
                  pretty_exceptions_show_locals=False)  # fmt: skip
app.command()(workers.setup)
app.command()(workers.worker)
app.command()(workers.ingest)
app.command("models")(workers.models_setup)
app.command()(cameras.frames)
app.add_typer(hotlists.app, name="hotlist")
app.add_typer(agreements.app, name="agreements")
app.add_typer(partner.app, name="partner")
app.add_typer(reads.app, name="reads")
app.add_typer(deadletters.app, name="deadletters")
app.command()(reads.audit)
app.command()(workers.demo)


def _mount_optional_apps() -> None:
    from pipelines.cli.services import app as services_app

    app.add_typer(services_app, name="services", help="Local Kafka and Cassandra servers.")
    from pipelines.cli.partners import app as partners_app

    app.add_typer(partners_app, name="partners", help="Partner agencies' Kafka access.")
    from pipelines.cli.camera_credentials import app as cameras_app

    app.add_typer(cameras_app, name="cameras", help="Per-camera ingest credentials.")
    from pipelines.ocr.evaluate import app as ocr_app

    app.add_typer(ocr_app, name="ocr", help="OCR accuracy on a labelled folder.")


_mount_optional_apps()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app()
