"""Renders the demo camera frames: synthetic 1280x720 street scenes, one US plate each.

OpenCV drawing only (no photos, so no image rights to track), seeded, so a run renders
the same scenes. Each frame has a white plate with a dark border, large dark characters,
the state name above and a slogan below, on a car over a road, plus the timestamp
overlay real cameras burn in: the OCR stage must pick the plate out of that text.

    python -m pipelines.ocr.make_samples            # writes connectors/samples/frames
    python -m pipelines.ocr.make_samples --verify   # and reads each back with OCR
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from connectors.samples import FRAMES_DIR, MANIFEST_NAME

Canvas = npt.NDArray[np.uint8]
Color = tuple[int, int, int]  # BGR

WIDTH, HEIGHT = 1280, 720
JPEG_QUALITY = 85
SEED = 20240614
INK: Color = (60, 30, 20)  # the dark navy of most US plate characters
FONT = cv2.FONT_HERSHEY_DUPLEX
SMALL_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Scene:
    file: str
    plate: str
    shown_as: str  # as printed, with the state's spacing or dash
    state: str
    slogan: str
    region: str
    car_color: Color
    center_x: int
    plate_width: int
    clock: str
    demo_hotlist: bool = False


# The hotlisted ones are also in connectors/samples/hotlist.csv, so the demo has hits.
SCENES = (
    Scene("frame-01.jpg", "KRT417", "KRT 417", "MINNESOTA", "10,000 LAKES", "us-mn",
          (40, 40, 150), 640, 180, "08:42:17", demo_hotlist=True),
    Scene("frame-02.jpg", "482VTN", "482 VTN", "MINNESOTA", "EXPLORE MINNESOTA", "us-mn",
          (120, 110, 100), 500, 160, "08:42:31"),
    Scene("frame-03.jpg", "HDZ771", "HDZ-771", "WISCONSIN", "AMERICA'S DAIRYLAND", "us-wi",
          (30, 30, 30), 780, 175, "08:43:05", demo_hotlist=True),
    Scene("frame-04.jpg", "GHY356", "GHY 356", "MINNESOTA", "10,000 LAKES", "us-mn",
          (160, 90, 30), 610, 150, "08:43:48"),
    Scene("frame-05.jpg", "FWP583", "FWP 583", "IOWA", "IOWA.GOV", "us-ia",
          (200, 200, 205), 700, 165, "08:44:12"),
    Scene("frame-06.jpg", "357KEA", "357 KEA", "NORTH DAKOTA", "DISCOVER THE SPIRIT", "us-nd",
          (50, 120, 60), 560, 190, "08:44:56"),
)  # fmt: skip


def render(scene: Scene, index: int) -> Canvas:
    rng = np.random.default_rng(SEED + index)
    image = _background(rng)
    plate = _plate(scene)
    _car(image, scene, plate, rng)
    _overlay(image, f"2024-06-14 {scene.clock}  LAKESIDE CAM 3")
    # Sensor noise and a little softness, as a real camera gives.
    noise = rng.normal(0.0, 4.0, image.shape)
    noisy = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return np.asarray(cv2.GaussianBlur(noisy, (3, 3), 0.7), dtype=np.uint8)


def _background(rng: np.random.Generator) -> Canvas:
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    horizon = 300
    for y in range(horizon):  # sky: blue at the top, paler at the horizon
        t = y / horizon
        image[y, :] = (int(230 - 20 * t), int(190 + 30 * t), int(150 + 70 * t))
    for _ in range(7):  # buildings on the horizon
        x = int(rng.integers(0, WIDTH - 150))
        w, h = int(rng.integers(90, 220)), int(rng.integers(60, 200))
        shade = int(rng.integers(90, 170))
        cv2.rectangle(image, (x, horizon - h), (x + w, horizon), (shade, shade, shade + 8), -1)
        for wy in range(horizon - h + 12, horizon - 12, 26):
            for wx in range(x + 10, x + w - 16, 24):
                cv2.rectangle(image, (wx, wy), (wx + 10, wy + 12), (shade - 50,) * 3, -1)
    for y in range(horizon, HEIGHT):  # road: darker towards the camera
        t = (y - horizon) / (HEIGHT - horizon)
        image[y, :] = (int(120 - 45 * t),) * 3
    for y in range(horizon + 20, HEIGHT, 90):  # lane dashes in perspective
        t = (y - horizon) / (HEIGHT - horizon)
        half = int(3 + 10 * t)
        cv2.rectangle(image, (WIDTH // 2 - half, y), (WIDTH // 2 + half, y + int(20 + 30 * t)),
                      (210, 210, 210), -1)  # fmt: skip
    return image


def _plate(scene: Scene) -> Canvas:
    """A US plate, 2:1: border, state name on top, characters, slogan at the bottom."""
    w = scene.plate_width
    h = w // 2
    plate = np.full((h, w, 3), 245, dtype=np.uint8)
    cv2.rectangle(plate, (2, 2), (w - 3, h - 3), INK, max(3, w // 80))
    _centered(plate, scene.state, SMALL_FONT, int(h * 0.17), int(h * 0.22), INK, 2)
    _centered(plate, scene.shown_as, FONT, int(h * 0.42), int(h * 0.72), INK, max(4, w // 45))
    _centered(plate, scene.slogan, SMALL_FONT, int(h * 0.10), int(h * 0.90), INK, 1)
    return plate


def _centered(
    canvas: Canvas, text: str, font: int, height: int, baseline_y: int, color: Color, thick: int
) -> None:
    """Draws ``text`` centred, scaled to ``height`` px but never wider than 86%."""
    (unit_w, unit_h), _ = cv2.getTextSize(text, font, 1.0, thick)
    scale = min(height / unit_h, canvas.shape[1] * 0.86 / unit_w)
    (text_w, _), _ = cv2.getTextSize(text, font, scale, thick)
    origin = ((canvas.shape[1] - text_w) // 2, baseline_y)
    cv2.putText(canvas, text, origin, font, scale, color, thick, cv2.LINE_AA)


def _car(image: Canvas, scene: Scene, plate: Canvas, rng: np.random.Generator) -> None:
    """The back of a car with the plate on its bumper."""
    body_w = int(scene.plate_width * 5.2)  # a car is about 5 plates wide
    body_h = int(body_w * 0.38)
    left = scene.center_x - body_w // 2
    top = 640 - body_h
    dark = tuple(max(0, c - 60) for c in scene.car_color)
    cv2.rectangle(image, (left + 20, 640), (left + 130, 690), (25, 25, 25), -1)  # tyres
    cv2.rectangle(image, (left + body_w - 130, 640), (left + body_w - 20, 690), (25, 25, 25), -1)
    cv2.rectangle(image, (left + body_w // 8, top - body_h // 3),
                  (left + body_w * 7 // 8, top + 10), scene.car_color, -1)  # fmt: skip
    cv2.rectangle(image, (left + body_w // 8 + 25, top - body_h // 3 + 20),
                  (left + body_w * 7 // 8 - 25, top), (70, 60, 55), -1)  # fmt: skip
    cv2.rectangle(image, (left, top), (left + body_w, 650), scene.car_color, -1)
    cv2.rectangle(image, (left, top), (left + body_w, 650), dark, 3)
    for x in (left + 15, left + body_w - 15 - body_w // 7):  # tail lights
        cv2.rectangle(image, (x, top + 25), (x + body_w // 7, top + 25 + body_h // 6),
                      (30, 30, 200), -1)  # fmt: skip
    bumper_top = 650 - body_h // 4
    cv2.rectangle(image, (left - 5, bumper_top), (left + body_w + 5, 655), (45, 45, 45), -1)
    ph, pw = plate.shape[:2]
    px = scene.center_x - pw // 2 + int(rng.integers(-6, 7))
    py = bumper_top - ph // 2 - 10
    image[py : py + ph, px : px + pw] = plate


def _overlay(image: Canvas, text: str) -> None:
    """The timestamp a camera burns into its frames, white on a black outline."""
    cv2.putText(image, text, (16, 34), SMALL_FONT, 0.8, (0, 0, 0), 5, cv2.LINE_AA)
    cv2.putText(image, text, (16, 34), SMALL_FONT, 0.8, (255, 255, 255), 2, cv2.LINE_AA)


def write_frames(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, scene in enumerate(SCENES):
        ok, encoded = cv2.imencode(
            ".jpg", render(scene, index), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        )
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {scene.file}")
        path = out_dir / scene.file
        path.write_bytes(np.asarray(encoded).tobytes())
        paths.append(path)
    manifest = {
        "description": "Synthetic frames rendered by connectors/samples/make_frames.py; "
        "plate is the normalised text each frame shows.",
        "frames": [
            {
                "file": scene.file,
                "plate": scene.plate,
                "region": scene.region,
                "demo_hotlist": scene.demo_hotlist,
            }
            for scene in SCENES
        ],
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return paths


def verify(out_dir: Path) -> bool:
    """Reads every frame back with the real OCR; True when all are read exactly."""
    from pipelines.ocr.reader import PlateReader, PlateReadResult
    from pipelines.settings import get_settings

    reader = PlateReader.from_settings(get_settings())
    all_read = True
    for scene in SCENES:
        result = reader.read((out_dir / scene.file).read_bytes())
        got = result.plate if isinstance(result, PlateReadResult) else None
        confidence = result.confidence if isinstance(result, PlateReadResult) else 0.0
        all_read &= got == scene.plate
        print(f"{scene.file}: expected {scene.plate}, read {got} ({confidence:.2f})")
    return all_read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=FRAMES_DIR)
    parser.add_argument("--verify", action="store_true", help="read them back with OCR")
    args = parser.parse_args(argv)
    for path in write_frames(args.out):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
    return 0 if not args.verify or verify(args.out) else 1


if __name__ == "__main__":
    sys.exit(main())
