"""Plate OCR accuracy and speed on this machine. Prints one JSON object.

- accuracy on the labelled dev photos (``lprx ocr eval``'s ``evaluate``) for the
  plate-aware reader on ONNX Runtime, and in the same run the naive baseline: whole-frame
  PP-OCR with the same model, the first plate-shaped text line taken as the plate;
- frames/s for the shipped 1280x720 one-plate sample frames, per backend;
- crops/s for recognition alone on plate-line crops;
- RSS before and after N frames (is the worker's memory flat?).

    .venv/bin/python benchmarks/ocr.py [--dataset DIR] [--frames 200] [--paddle-accuracy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from connectors.samples import sample_frames  # noqa: E402
from pipelines.ocr.backends import build_recognizer  # noqa: E402
from pipelines.ocr.datasets import dataset  # noqa: E402
from pipelines.ocr.engine import TextRecognizer  # noqa: E402
from pipelines.ocr.evaluate import evaluate as evaluate_reader  # noqa: E402
from pipelines.ocr.evaluate import load_labels  # noqa: E402
from pipelines.ocr.onnx_engine import OnnxTextRecognizer, crop_quad  # noqa: E402
from pipelines.ocr.plates import (  # noqa: E402
    canonical_plate,
    is_plausible_plate,
    normalize_plate_text,
)
from pipelines.ocr.reader import PlateReader  # noqa: E402
from pipelines.settings import get_settings  # noqa: E402

DATASET = dataset("openalpr-us-dev")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def naive_baseline(folder: Path, recognizer: TextRecognizer) -> dict[str, Any]:
    """Whole-frame OCR, first plate-shaped line (top to bottom) taken as the plate."""
    labels = load_labels(folder)
    exact = 0
    for label in labels:
        frame = cv2.imread(str(label.image), cv2.IMREAD_COLOR)
        read = None
        for line in recognizer.recognize(frame):
            plate, _ = normalize_plate_text(line.text)
            if is_plausible_plate(plate):
                read = canonical_plate(plate)
                break
        exact += read == label.plate
    return {"images": len(labels), "top1_exact": exact, "top1_rate": _rate(exact, len(labels))}


def frames_per_second(reader: PlateReader, frames: list[bytes], rounds: int) -> dict[str, Any]:
    reader.read(frames[0])  # warm-up: first runs allocate
    latencies = []
    started = time.perf_counter()
    for _ in range(rounds):
        for data in frames:
            began = time.perf_counter()
            reader.read(data)
            latencies.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - started
    return {
        "frames": len(latencies),
        "frames_per_s": round(len(latencies) / elapsed, 2),
        "median_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1),
    }


def crops_per_second(recognizer: OnnxTextRecognizer, folder: Path, count: int) -> dict[str, Any]:
    """Recognition alone, one crop per call (the latency a single plate sees)."""
    crops = []
    for label in load_labels(folder)[:count]:
        frame = cv2.imread(str(label.image), cv2.IMREAD_COLOR)
        quads = recognizer.detect(frame)
        crops.extend(crop_quad(frame, quad) for quad in quads[:1])
    recognizer.recognize_crops(crops[:1])
    started = time.perf_counter()
    for crop in crops:
        recognizer.recognize_crops([crop])
    single = len(crops) / (time.perf_counter() - started)
    started = time.perf_counter()
    recognizer.recognize_crops(crops)
    batched = len(crops) / (time.perf_counter() - started)
    return {
        "crops": len(crops),
        "crops_per_s": round(single, 1),
        "batched_per_s": round(batched, 1),
    }


def _rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--frames", type=int, default=200, help="frames for the RSS run")
    parser.add_argument("--paddle-accuracy", action="store_true", help="also ~70 s more")
    args = parser.parse_args()
    settings = get_settings()
    frames = [frame.path.read_bytes() for frame in sample_frames()]
    report: dict[str, Any] = {
        "cores": len(os.sched_getaffinity(0)),
        "frame_size": "1280x720",
        "rss_mib_start": rss_mib(),
    }

    onnx = build_recognizer(settings, "onnx")
    assert isinstance(onnx, OnnxTextRecognizer)
    reader = PlateReader(onnx, settings.ocr_max_pixels)
    report["onnx_frames"] = frames_per_second(reader, frames, rounds=3)
    if args.dataset.is_dir():
        result = evaluate_reader(args.dataset, reader)
        result.pop("misses")
        report["onnx_accuracy"] = result
        report["naive_baseline_accuracy"] = naive_baseline(args.dataset, onnx)
        report["onnx_recognition_alone"] = crops_per_second(onnx, args.dataset, 60)

    rss_before = rss_mib()
    memory_run = frames_per_second(reader, frames, rounds=max(1, args.frames // len(frames)))
    report["memory"] = {
        "frames": memory_run["frames"],
        "rss_mib_before": rss_before,
        "rss_mib_after": rss_mib(),
    }

    paddle = build_recognizer(settings, "paddle")
    paddle_reader = PlateReader(paddle, settings.ocr_max_pixels)
    report["paddle_frames"] = frames_per_second(paddle_reader, frames, rounds=1)
    if args.paddle_accuracy and args.dataset.is_dir():
        result = evaluate_reader(args.dataset, paddle_reader)
        result.pop("misses")
        report["paddle_accuracy"] = result
    report["rss_mib_end"] = rss_mib()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
