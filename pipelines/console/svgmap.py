"""A small map of search results without any tiles: the reads' coordinates plotted in
their bounding box as an inline SVG, each point labelled, the box's edges in degrees."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, MARGIN = 640, 360, 40
MIN_SPAN_DEGREES = 0.002  # about 200 m: one read, or reads at one spot, still get a box
MAX_LABELS = 60


@dataclass(frozen=True)
class MapPoint:
    latitude: float
    longitude: float
    label: str


@dataclass(frozen=True)
class Bounds:
    south: float
    west: float
    north: float
    east: float


def bounds_of(points: Sequence[MapPoint]) -> Bounds:
    """The points' box, widened to a minimum span and padded by a tenth each side."""
    lats = [p.latitude for p in points]
    lons = [p.longitude for p in points]
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    pad_lat = max((north - south) * 0.1, (MIN_SPAN_DEGREES - (north - south)) / 2, 0.0)
    pad_lon = max((east - west) * 0.1, (MIN_SPAN_DEGREES - (east - west)) / 2, 0.0)
    return Bounds(south - pad_lat, west - pad_lon, north + pad_lat, east + pad_lon)


def project(bounds: Bounds, lat: float, lon: float) -> tuple[float, float]:
    """(x, y) in the SVG; an equirectangular view, east-west scaled by the box's mid
    latitude so distances look right at a city's scale."""
    scale_x = math.cos(math.radians((bounds.north + bounds.south) / 2))
    span_x = (bounds.east - bounds.west) * scale_x
    span_y = bounds.north - bounds.south
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    unit = min(inner_w / span_x, inner_h / span_y)
    off_x = MARGIN + (inner_w - span_x * unit) / 2
    off_y = MARGIN + (inner_h - span_y * unit) / 2
    x = off_x + (lon - bounds.west) * scale_x * unit
    y = off_y + (bounds.north - lat) * unit
    return round(x, 1), round(y, 1)


def degrees(lat: float, lon: float) -> str:
    return f"{abs(lat):.4f}°{'N' if lat >= 0 else 'S'} {abs(lon):.4f}°{'E' if lon >= 0 else 'W'}"


def scale_bar(box: Bounds, left: float, bottom: float) -> list[str]:
    """A bar of a round length (m or km) under the box's lower left corner."""
    mid = (box.north + box.south) / 2
    x0, _ = project(box, mid, box.west)
    x1, _ = project(box, mid, box.east)
    metres_per_px = (box.east - box.west) * 111_320 * math.cos(math.radians(mid)) / (x1 - x0)
    length = next(
        (
            m
            for m in (
                10,
                20,
                50,
                100,
                200,
                500,
                1000,
                2000,
                5000,
                10_000,
                20_000,
                50_000,
                100_000,
                200_000,
                500_000,
                1_000_000,
                2_000_000,
            )
            if m / metres_per_px >= 60
        ),
        5_000_000,
    )
    px = round(length / metres_per_px, 1)
    label = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    y = bottom + 30
    return [
        f'<line x1="{left}" y1="{y}" x2="{round(left + px, 1)}" y2="{y}" stroke="#1b2530" '
        f'stroke-width="2"/>',
        f'<text x="{round(left + px + 4, 1)}" y="{y + 4}" class="edge">{label}</text>',
    ]


def reads_map(points: Sequence[MapPoint]) -> Markup:
    """The SVG of ``points`` (labels escaped), or an empty string when none has a place."""
    placed = [p for p in points if math.isfinite(p.latitude) and math.isfinite(p.longitude)]
    if not placed:
        return Markup("")
    box = bounds_of(placed)
    left, top = project(box, box.north, box.west)
    right, bottom = project(box, box.south, box.east)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">',
        f"<title>{len(placed)} reads between {box.south:.4f},{box.west:.4f} and "
        f"{box.north:.4f},{box.east:.4f}</title>",
        f'<rect x="{left}" y="{top}" width="{round(right - left, 1)}" '
        f'height="{round(bottom - top, 1)}" fill="#f4f7fa" stroke="#8a9bb0"/>',
        f'<text x="{left}" y="{top - 6}" class="edge">{degrees(box.north, box.west)}</text>',
        f'<text x="{right}" y="{bottom + 16}" class="edge" text-anchor="end">'
        f"{degrees(box.south, box.east)}</text>",
        *scale_bar(box, left, bottom),
    ]
    for index, point in enumerate(placed):
        x, y = project(box, point.latitude, point.longitude)
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="5" class="read"><title>'
            f"{escape(point.label)}</title></circle>"
        )
        if index < MAX_LABELS:
            parts.append(
                f'<text x="{x + 7}" y="{y - 7}" class="label">{escape(point.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is a number or escaped
