"""Privacy masks: polygons blacked out of a frame before it leaves the camera site.

A polygon is a list of ``(x, y)`` points in **fractions of the frame** (0-1 of its width
and height, origin top-left), so one mask fits every resolution a camera streams at.
A pixel is masked when its centre lies inside a polygon (even-odd rule), so a mask from
x=0 to x=0.5 of a 320-pixel-wide frame blacks out exactly columns 0-159.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Polygon = tuple[Point, ...]
PixelMask = npt.NDArray[np.bool_]


# Bounds on what a camera's configuration or an upload may ask us to rasterize.
MAX_MASKS = 32
MAX_POINTS = 256


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_polygon(points: object, name: str = "mask") -> Polygon:
    """The polygon as tuples; a ValueError names what is wrong with it."""
    if not isinstance(points, list | tuple):
        raise ValueError(f"{name}: a polygon is a list of [x, y] points")
    if not 3 <= len(points) <= MAX_POINTS:
        raise ValueError(f"{name}: a polygon needs 3 to {MAX_POINTS} points, got {len(points)}")
    polygon: list[Point] = []
    for index, point in enumerate(points):
        if not (
            isinstance(point, list | tuple) and len(point) == 2 and all(map(_is_number, point))
        ):
            raise ValueError(f"{name}: point {index} must be two numbers [x, y]")
        x, y = float(point[0]), float(point[1])
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= 1 and 0 <= y <= 1):
            raise ValueError(
                f"{name}: point {index} ({x}, {y}) is outside 0-1; mask points are "
                "fractions of the frame's width and height"
            )
        polygon.append((x, y))
    # Shoelace formula: points on one line cover nothing, which is surely a typo.
    edges = zip(polygon, polygon[1:] + polygon[:1], strict=True)
    area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in edges)
    if abs(area) < 1e-9:
        raise ValueError(f"{name}: the polygon has no area (its points are on one line)")
    return tuple(polygon)


def validate_masks(masks: object, name: str = "mask") -> tuple[Polygon, ...]:
    """A list of polygons, each validated; a ValueError names the one that is wrong."""
    if not isinstance(masks, list | tuple):
        raise ValueError("masks must be a list of polygons, each a list of [x, y] points")
    if len(masks) > MAX_MASKS:
        raise ValueError(f"at most {MAX_MASKS} masks, got {len(masks)}")
    return tuple(
        validate_polygon(polygon, f"{name} {index}") for index, polygon in enumerate(masks)
    )


def rasterize(polygons: Sequence[Polygon], height: int, width: int) -> PixelMask:
    """True for each pixel whose centre is inside one of ``polygons``."""
    centre_y = (np.arange(height, dtype=np.float64)[:, None] + 0.5) / height
    centre_x = (np.arange(width, dtype=np.float64)[None, :] + 0.5) / width
    masked = np.zeros((height, width), dtype=np.bool_)
    for polygon in polygons:
        inside = np.zeros((height, width), dtype=np.bool_)
        for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
            if y1 == y2:
                continue  # a horizontal edge crosses no horizontal ray
            # Even-odd rule: count the edges crossed by a ray from each centre to the right.
            spans_row = (y1 > centre_y) != (y2 > centre_y)
            edge_x = x1 + (centre_y - y1) * (x2 - x1) / (y2 - y1)
            inside ^= spans_row & (centre_x < edge_x)
        masked |= inside
    return masked


class PrivacyMasks:
    """A camera's masks, rasterized once per frame size (streams rarely change size)."""

    def __init__(self, polygons: Sequence[Polygon]) -> None:
        self.polygons = tuple(polygons)
        self._by_size: dict[tuple[int, int], PixelMask] = {}

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def pixels(self, height: int, width: int) -> PixelMask:
        mask = self._by_size.get((height, width))
        if mask is None:
            mask = self._by_size[(height, width)] = rasterize(self.polygons, height, width)
        return mask

    def apply(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """A copy of ``image`` with the masked pixels black; the original is untouched."""
        if not self.polygons:
            return image
        masked = image.copy()
        masked[self.pixels(*image.shape[:2])] = 0
        return masked
