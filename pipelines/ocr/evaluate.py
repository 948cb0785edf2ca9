"""Accuracy of a plate reader on a folder of labelled photos (``lprx ocr eval FOLDER``):
top-1 and top-N exact reads, and how the alert threshold does there (the share of reads
at or above it that are exact, and the share of photos read at or above it).

The folder holds ``NAME.jpg`` (or .png) and ``NAME.txt`` with one tab-separated line
``NAME.jpg x y w h PLATE`` (the openalpr benchmark layout). Labels are compared after
the reader's own normalisation (upper case, separators dropped, O as 0), so a folder
labelled with letter O or dashes is judged fairly.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.ocr import datasets
from pipelines.ocr.confidence import Outcome, alert_threshold, at_threshold
from pipelines.ocr.datasets import Label
from pipelines.ocr.errors import OcrInputError
from pipelines.ocr.plates import canonical_plate, normalize_plate_text
from pipelines.ocr.reader import PlateReader, PlateReadResult

app = typer.Typer(help="Plate OCR: evaluation.", no_args_is_help=True)


@app.callback()
def ocr() -> None:
    """Plate OCR tools (a group, so ``eval`` stays a named sub-command)."""


def load_labels(folder: Path) -> list[Label]:
    """Every labelled image in ``folder``, by name, its plate as the reader reports it."""
    labelled = datasets.load_labels(folder)
    return [Label(label.image, expected_plate(label.plate)) for label in labelled]


def expected_plate(label: str) -> str:
    return canonical_plate(normalize_plate_text(label)[0])


def evaluate(folder: Path, reader: PlateReader, limit: int | None = None) -> dict[str, Any]:
    """Reads every labelled image once; returns counts, rates and per-image latency."""
    labels = load_labels(folder)[:limit]
    top1 = topn = no_plate = errors = 0
    latencies: list[float] = []
    misses: list[dict[str, object]] = []
    outcomes: list[Outcome] = []
    for label in labels:
        data = label.image.read_bytes()
        started = time.perf_counter()
        try:
            result = reader.read(data)
        except OcrInputError:
            errors += 1
            outcomes.append((0.0, False))
            continue
        finally:
            latencies.append(time.perf_counter() - started)
        if not isinstance(result, PlateReadResult):
            no_plate += 1
            outcomes.append((0.0, False))
            misses.append({"image": label.image.name, "expected": label.plate, "read": None})
            continue
        top1 += result.plate == label.plate
        topn += any(candidate.plate == label.plate for candidate in result.candidates)
        outcomes.append((result.confidence, result.plate == label.plate))
        if result.plate != label.plate:
            misses.append(
                {
                    "image": label.image.name,
                    "expected": label.plate,
                    "read": result.plate,
                    "confidence": result.confidence,
                }
            )
    images = len(labels)
    threshold = alert_threshold()
    precision, recall = at_threshold(outcomes, threshold)
    return {
        "folder": str(folder),
        "images": images,
        "top1_exact": top1,
        "top1_rate": round(top1 / images, 4) if images else 0.0,
        "topn_exact": topn,
        "topn_rate": round(topn / images, 4) if images else 0.0,
        "no_plate": no_plate,
        "bad_images": errors,
        "median_ms_per_image": round(statistics.median(latencies) * 1000, 1) if latencies else 0,
        "alert_threshold": threshold,
        "precision_at_alert_threshold": round(precision, 4),
        "recall_at_alert_threshold": round(recall, 4),
        "misses": misses,
    }


@app.command("eval")
def eval_command(
    folder: Annotated[Path, typer.Argument(help="NAME.jpg + NAME.txt (openalpr layout).")],
    limit: Annotated[int | None, typer.Option(help="Read only the first N images.")] = None,
    backend: Annotated[str | None, typer.Option(help="onnx or paddle (default: onnx).")] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(help='Plate region hint, repeatable ("us", "us-ca", "eu", "sk", "br").'),
    ] = None,
) -> None:
    """Print one JSON object: top-1 and top-N exact plates, no-plate count, latency, and
    the alert threshold's precision and recall on this folder."""
    from pipelines.settings import get_settings

    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder", param_hint="FOLDER")
    try:
        reader = PlateReader.from_settings(get_settings(), backend=backend, regions=region or ())
    except ValueError as error:  # an unknown region
        raise typer.BadParameter(str(error), param_hint="--region") from error
    typer.echo(json.dumps(evaluate(folder, reader, limit)))


if __name__ == "__main__":
    app()
