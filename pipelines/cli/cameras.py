"""`lprx frames`: cameras that cannot read plates send frames to the OCR stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.access import Role
from pipelines.cli import common
from pipelines.cli.common import console, fail
from schemas.errors import ConfigurationError
from schemas.records import CameraKind


def _mask_option(text: str) -> list[list[float]]:
    """``"x,y x,y x,y"`` as a list of points; validation happens with the camera's."""
    try:
        return [[float(n) for n in point.split(",")] for point in text.split()]
    except ValueError:
        raise fail(f'--mask "{text}": write points as "x,y x,y x,y" (fractions 0-1)') from None


def frames(
    source: Annotated[
        str | None, typer.Argument(help="Image folder, video file or rtsp:// URL.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Cameras file (.toml/.json, see connectors/cameras/config_file.py)."),
    ] = None,
    camera: Annotated[
        str | None, typer.Option(help="Camera id; with --config, run only that camera.")
    ] = None,
    agency: Annotated[
        str | None, typer.Option(help="ORI of the agency that owns the reads.")
    ] = None,
    kind: CameraKind = CameraKind.FIXED,
    every: Annotated[int, typer.Option(help="Send every Nth frame.")] = 1,
    max_fps: Annotated[float | None, typer.Option(help="Pace of a live camera.")] = None,
    max_frames: int | None = None,
    jpeg_quality: int = 90,
    max_width: Annotated[int | None, typer.Option(help="Downscale wider frames.")] = None,
    motion: Annotated[
        bool | None,
        typer.Option(
            "--motion/--no-motion",
            help="Send only frames with motion (default: on for videos and streams, off "
            "for folders).",
        ),
    ] = None,
    motion_threshold: Annotated[
        float, typer.Option(help="Foreground share of the unmasked frame that is motion.")
    ] = 0.005,
    mask: Annotated[
        list[str] | None,
        typer.Option(help='Privacy polygon "x,y x,y x,y", fractions 0-1; repeatable.'),
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owner of a partner camera.")] = None,
    consent_ref: Annotated[str | None, typer.Option(help="Partner's consent reference.")] = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> None:
    """Send frames of cameras that cannot read plates to the OCR stage.

    One camera from the options, or every camera of a --config file, each in its own
    thread until its source ends or Ctrl-C.
    """
    import threading

    from connectors.cameras.config_file import load_cameras, parse_cameras, run_cameras
    from connectors.kafka.sink import KafkaSink

    try:
        if config is not None:
            if source is not None or agency is not None:
                raise ConfigurationError("give SOURCE and --agency, or --config, not both")
            cameras = load_cameras(config)
            if camera is not None:
                cameras = [c for c in cameras if c.id == camera]
                if not cameras:
                    raise ConfigurationError(f"no camera {camera} in {config}")
            if max_frames is not None:
                cameras = [c.model_copy(update={"max_frames": max_frames}) for c in cameras]
        else:
            if source is None or camera is None or agency is None:
                raise ConfigurationError("give SOURCE, --camera and --agency (or --config)")
            options: dict[str, Any] = {
                "id": camera, "agency": agency, "source": source, "kind": kind,
                "latitude": latitude, "longitude": longitude, "owner": owner,
                "consent_ref": consent_ref, "every": every, "max_fps": max_fps,
                "max_frames": max_frames, "jpeg_quality": jpeg_quality, "max_width": max_width,
                "motion": motion, "motion_threshold": motion_threshold,
                "masks": [_mask_option(text) for text in mask or []],
            }  # fmt: skip
            cameras = parse_cameras({"cameras": [options]})
    except ConfigurationError as error:
        raise fail(str(error)) from error
    settings = common.settings_as(Role.INGEST)
    client_id = f"lprx-frames-{cameras[0].id}" if len(cameras) == 1 else "lprx-frames"
    runs = run_cameras(settings, KafkaSink(settings, client_id), cameras, threading.Event())
    for run in runs:
        if run.report is None:
            console.print(f"[red]{run.camera_id}[/red] ({run.source}): {run.error}")
            continue
        r = run.report
        console.print(
            f"{run.camera_id}: {r.sent} frames sent, {r.skipped_by_sampling} skipped by "
            f"sampling, {r.skipped_still} still, {r.skipped_warmup} warm-up, "
            f"{r.skipped_unreadable} unreadable {r.unreadable[:5]}"
        )
    if any(run.report is None for run in runs):
        raise typer.Exit(code=1)
