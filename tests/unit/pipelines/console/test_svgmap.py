"""The results map: points inside the drawn box, labels escaped, no point no map."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from pipelines.console.svgmap import HEIGHT, WIDTH, MapPoint, bounds_of, project, reads_map

coordinates = st.tuples(st.floats(-80, 80), st.floats(-179, 179))


@given(st.lists(coordinates, min_size=1, max_size=30))
def test_every_point_is_drawn_inside_the_map(points: list[tuple[float, float]]) -> None:
    placed = [MapPoint(lat, lon, "x") for lat, lon in points]
    box = bounds_of(placed)
    for p in placed:
        x, y = project(box, p.latitude, p.longitude)
        assert 0 <= x <= WIDTH and 0 <= y <= HEIGHT


def test_north_is_up_and_east_is_right() -> None:
    south_west, north_east = MapPoint(44.9, -93.3, "a"), MapPoint(45.0, -93.2, "b")
    box = bounds_of([south_west, north_east])
    (x1, y1), (x2, y2) = (project(box, p.latitude, p.longitude) for p in (south_west, north_east))
    assert x2 > x1 and y2 < y1


def test_labels_are_escaped_and_one_circle_per_read() -> None:
    svg = str(reads_map([MapPoint(44.97, -93.27, "<b>KRT417</b>"), MapPoint(44.98, -93.26, "B")]))
    assert svg.count("<circle") == 2 and "<b>" not in svg and "&lt;b&gt;KRT417" in svg
    assert re.search(r'viewBox="0 0 \d+ \d+"', svg)


def test_no_placed_read_no_map() -> None:
    assert str(reads_map([])) == ""
    assert str(reads_map([MapPoint(math.nan, 0.0, "x")])) == ""
