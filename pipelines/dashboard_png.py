"""The Grafana dashboard's panels drawn from a real Prometheus, as one PNG (Pillow only):
for a README, a report or an SRE without Grafana.

    python -m pipelines.dashboard_png --prometheus http://127.0.0.1:9090 --out panels.png

Each panel runs its queries (``$__rate_interval`` as ``1m``, every variable as ``.*``)
over the last ``--minutes`` and draws one line per series.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw, ImageFont

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy/helm/lprx/files/lprx-dashboard.json"
PANEL_W, PANEL_H, COLUMNS, MARGIN = 360, 170, 4, 24
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")

Series = list[tuple[float, float]]


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, list[str]]]:
    panels = []
    for panel in dashboard["panels"]:
        exprs = [
            t["expr"]
            .replace("$__rate_interval", "1m")
            .replace("$stage", ".*")
            .replace("$consumergroup", ".*")
            for t in panel.get("targets", [])
            if t.get("expr")
        ]
        if exprs:
            panels.append((panel["title"], exprs))
    return panels


def query_range(prometheus: str, expr: str, minutes: float) -> list[Series]:
    end = time.time()
    answer = httpx.get(
        f"{prometheus}/api/v1/query_range",
        params={"query": expr, "start": end - minutes * 60, "end": end, "step": "2s"},
        timeout=20,
    ).json()
    series = []
    for result in answer.get("data", {}).get("result", []):
        points = [(float(t), float(v)) for t, v in result["values"] if not math.isnan(float(v))]
        if points:
            series.append(points)
    return series


def draw_panel(draw: ImageDraw.ImageDraw, x: int, y: int, title: str, lines: list[Series]) -> None:
    font = ImageFont.load_default()
    draw.rectangle([x, y, x + PANEL_W - 8, y + PANEL_H - 8], outline="#bbbbbb", fill="white")
    draw.text((x + 6, y + 4), title[:56], fill="black", font=font)
    points = [p for line in lines for p in line]
    if not points:
        draw.text((x + 6, y + PANEL_H // 2), "no data", fill="#999999", font=font)
        return
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    values = [p[1] for p in points]
    v0, v1 = min(0.0, *values), max(values)
    left, top, right, bottom = x + 46, y + 22, x + PANEL_W - 16, y + PANEL_H - 20
    draw.text((x + 4, top), f"{v1:.3g}", fill="#555555", font=font)
    draw.text((x + 4, bottom - 10), f"{v0:.3g}", fill="#555555", font=font)
    draw.line([left, bottom, right, bottom], fill="#dddddd")
    for n, line in enumerate(lines):
        xy = [
            (
                left + (right - left) * ((t - t0) / ((t1 - t0) or 1.0)),
                bottom - (bottom - top) * ((v - v0) / ((v1 - v0) or 1.0)),
            )
            for t, v in line
        ]
        if len(xy) == 1:
            xy.append((xy[0][0] + 1, xy[0][1]))
        draw.line(xy, fill=COLOURS[n % len(COLOURS)], width=2)


def render(prometheus: str, out: Path, minutes: float = 5.0) -> int:
    """Draws every panel into ``out``; returns how many panels had data."""
    panels = panel_queries(json.loads(DASHBOARD.read_text()))
    rows = math.ceil(len(panels) / COLUMNS)
    image = Image.new("RGB", (COLUMNS * PANEL_W + MARGIN, rows * PANEL_H + MARGIN), "#f4f4f4")
    draw = ImageDraw.Draw(image)
    with_data = 0
    for n, (title, exprs) in enumerate(panels):
        lines = [series for expr in exprs for series in query_range(prometheus, expr, minutes)]
        with_data += bool(lines)
        x, y = MARGIN // 2 + (n % COLUMNS) * PANEL_W, MARGIN // 2 + (n // COLUMNS) * PANEL_H
        draw_panel(draw, x, y, title, lines)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out)
    return with_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    print(f"{render(args.prometheus, args.out, args.minutes)} panels with data -> {args.out}")


if __name__ == "__main__":
    main()
