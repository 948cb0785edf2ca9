"""The public log of use (Minnesota Statutes 13.824 subd. 5), for a resident to read.

Per agency and period: how many reads, when each camera collected, the lists reads were
compared against, hits by category, how many hits were shared and with whom, and the
retention in force, and the current and past locations of fixed cameras, with dates, from
the camera registry (``pipelines.services.cameras.fixed_locations``). Figures come from
the store's usage counters (no plate data, so
they outlive the reads) and from the audit trail (dissemination and hotlist loads); no
plate, read or person is named. ``report`` builds it; ``as_csv`` and ``as_html`` write
it (the API serves the same at ``/public/transparency``, no login).
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from connectors.cassandra.usage import CameraHour, HitCount
from pipelines.services.audit_chain import days
from schemas.cameras import LocationPeriod
from schemas.records import AuditAction, utcnow

# The categories in plain words, as the statute and residents say them.
PLAIN_CATEGORIES = {
    "STOLEN_VEHICLE": "stolen vehicle",
    "STOLEN_PLATE": "stolen plate",
    "WANTED_PERSON": "warrant (wanted person)",
    "MISSING_PERSON": "missing person",
    "AMBER_ALERT": "AMBER alert",
    "PROTECTION_ORDER": "protection order",
    "CUSTOM": "active investigation",
}


class UsageSource(Protocol):
    def camera_hours(self, agency_ori: str, first_day: str, last_day: str) -> list[CameraHour]: ...
    def hit_counts(self, agency_ori: str, first_day: str, last_day: str) -> list[HitCount]: ...


class AuditSource(Protocol):
    def event_rows(self, day: str) -> list[Sequence[Any]]: ...


@dataclass(frozen=True)
class CameraUse:
    camera_id: str
    reads: int
    hours_collecting: int  # clock hours in which it made at least one read
    first_day: str
    last_day: str


@dataclass
class TransparencyReport:
    agency_ori: str
    from_day: str
    to_day: str
    retention_days: int
    generated_at: datetime
    reads_by_day: dict[str, int] = field(default_factory=dict)
    hits_by_day: dict[str, int] = field(default_factory=dict)
    cameras: list[CameraUse] = field(default_factory=list)
    hits_by_category: dict[str, int] = field(default_factory=dict)
    lists_with_hits: list[str] = field(default_factory=list)
    lists_loaded: list[str] = field(default_factory=list)
    shared_with: dict[str, int] = field(default_factory=dict)
    fixed_locations: list[LocationPeriod] = field(default_factory=list)

    @property
    def reads(self) -> int:
        return sum(self.reads_by_day.values())

    @property
    def hits(self) -> int:
        return sum(self.hits_by_day.values())

    @property
    def shared(self) -> int:
        return sum(self.shared_with.values())


def report(
    usage: UsageSource,
    audit: AuditSource,
    agency_ori: str,
    from_day: str,
    to_day: str,
    retention_days: int,
    fixed_locations: Sequence[LocationPeriod] = (),
) -> TransparencyReport:
    """The agency's figures for the UTC days ``from_day``..``to_day``; the fixed
    cameras' locations, current and past, whatever the period."""
    result = TransparencyReport(agency_ori, from_day, to_day, retention_days, utcnow(),
                                fixed_locations=list(fixed_locations))  # fmt: skip
    period = days(from_day, to_day)
    result.reads_by_day = dict.fromkeys(period, 0)
    result.hits_by_day = dict.fromkeys(period, 0)
    by_camera: dict[str, list[CameraHour]] = defaultdict(list)
    for hour in usage.camera_hours(agency_ori, from_day, to_day):
        result.reads_by_day[hour.day] = result.reads_by_day.get(hour.day, 0) + hour.reads
        by_camera[hour.camera_id].append(hour)
    result.cameras = [
        CameraUse(
            camera,
            sum(h.reads for h in hours),
            sum(1 for h in hours if h.reads > 0),
            min(h.day for h in hours),
            max(h.day for h in hours),
        )
        for camera, hours in sorted(by_camera.items())
    ]
    categories: Counter[str] = Counter()
    lists: set[str] = set()
    for count in usage.hit_counts(agency_ori, from_day, to_day):
        result.hits_by_day[count.day] = result.hits_by_day.get(count.day, 0) + count.hits
        categories[PLAIN_CATEGORIES.get(count.category, count.category.lower())] += count.hits
        lists.add(count.list_id)
    result.hits_by_category = dict(categories.most_common())
    result.lists_with_hits = sorted(lists)
    shared: Counter[str] = Counter()
    loaded: set[str] = set()
    for day in period:
        for row in audit.event_rows(day):
            # AUDIT_COLUMNS: day, occurred_at, event_id, actor, actor_agency_ori, action,
            # purpose, target_kind, target_id, recipient_agency_ori, outcome, details
            if row[4] != agency_ori or row[10] != "SUCCESS":
                continue
            if row[5] == AuditAction.DISSEMINATE.value and row[9] and row[9] != agency_ori:
                shared[row[9]] += 1
            elif row[5] == AuditAction.HOTLIST_LOAD.value:
                loaded.add(row[8])
    result.shared_with = dict(shared.most_common())
    result.lists_loaded = sorted(loaded)
    return result


def as_csv(report: TransparencyReport) -> str:
    """One ``section,key,value`` row per figure: easy to load in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "value"])
    writer.writerows([
        ["agency", "ori", report.agency_ori], ["period", "from", report.from_day],
        ["period", "to", report.to_day], ["retention", "days", report.retention_days],
        ["total", "reads", report.reads], ["total", "hits", report.hits],
        ["total", "hits_shared", report.shared],
    ])  # fmt: skip
    writer.writerows(["reads_by_day", day, n] for day, n in report.reads_by_day.items())
    writer.writerows(["hits_by_day", day, n] for day, n in report.hits_by_day.items())
    for camera in report.cameras:
        writer.writerow(["camera_reads", camera.camera_id, camera.reads])
        writer.writerow(["camera_hours_collecting", camera.camera_id, camera.hours_collecting])
    writer.writerows(["hits_by_category", k, n] for k, n in report.hits_by_category.items())
    writer.writerows(["list_compared", name, "hits"] for name in report.lists_with_hits)
    writer.writerows(["list_loaded", name, "loaded"] for name in report.lists_loaded)
    writer.writerows(["shared_with", ori, n] for ori, n in report.shared_with.items())
    writer.writerows(["fixed_location", p.camera_id, _period_text(p)]
                     for p in report.fixed_locations)  # fmt: skip
    return out.getvalue()


def _period_text(period: LocationPeriod) -> str:
    loc = period.location
    until = period.until.isoformat() if period.until else "now"
    return (f"{loc.description} ({loc.latitude:.5f}, {loc.longitude:.5f}), "
            f"{loc.since.isoformat()} to {until}")  # fmt: skip


def _chart(report: TransparencyReport) -> str:
    """Reads (bars) and hits (dots) per day, as inline SVG: no script, nothing fetched."""
    width, height, pad = 640, 180, 24
    day_list = list(report.reads_by_day)
    top = max([1, *report.reads_by_day.values()])
    step = (width - 2 * pad) / max(len(day_list), 1)
    parts = [f'<svg role="img" aria-label="Reads and hits per day" viewBox="0 0 {width} '
             f'{height}" width="100%" style="max-width:{width}px">']  # fmt: skip
    for i, day in enumerate(day_list):
        reads, hits = report.reads_by_day[day], report.hits_by_day.get(day, 0)
        bar = (height - 2 * pad) * reads / top
        x = pad + i * step
        parts.append(f'<rect x="{x:.1f}" y="{height - pad - bar:.1f}" width="{step * 0.8:.1f}" '
                     f'height="{bar:.1f}" fill="#4a78b0"><title>{day}: {reads} reads, {hits} '
                     'hits</title></rect>')  # fmt: skip
        if hits:
            parts.append(f'<circle cx="{x + step * 0.4:.1f}" cy="{height - pad - 4:.1f}" r="4" '
                         'fill="#c0392b"/>')  # fmt: skip
    first, last = (day_list[0], day_list[-1]) if day_list else ("", "")
    parts.append(
        f'<text x="{pad}" y="{height - 6}" font-size="11">{first}</text>'
        f'<text x="{width - pad}" y="{height - 6}" font-size="11" text-anchor="end">{last}'
        "</text></svg>"
    )
    return "".join(parts)


def _rows(pairs: Sequence[tuple[str, object]]) -> str:
    if not pairs:
        return "<tr><td colspan=2>none</td></tr>"
    return "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in pairs
    )


def as_html(report: TransparencyReport) -> str:
    """A page a resident can read without help: plain words, a chart, small tables."""
    e = html.escape
    cameras = [(c.camera_id, f"{c.reads} reads; collected in {c.hours_collecting} clock hours "
                f"({c.first_day} to {c.last_day})") for c in report.cameras]  # fmt: skip
    places = [(p.camera_id, _period_text(p)) for p in report.fixed_locations]
    lists = [(name, "had hits") for name in report.lists_with_hits] + [
        (name, "loaded in this period") for name in report.lists_loaded
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Licence plate readers: public log of use,
{e(report.agency_ori)}</title><style>body{{font-family:sans-serif;max-width:44em;margin:2em auto;
padding:0 1em;line-height:1.5}}table{{border-collapse:collapse}}td{{border-bottom:1px solid #ddd;
padding:.2em .8em .2em 0}}</style></head><body>
<h1>Licence plate readers: public log of use</h1>
<p>Agency <strong>{e(report.agency_ori)}</strong>, from {e(report.from_day)} to
{e(report.to_day)} (UTC days). This page is published under Minnesota Statutes 13.824,
subdivision 5. It names no plate and no person.</p>
<h2>In short</h2>
<p>The cameras read <strong>{report.reads}</strong> plates. <strong>{report.hits}</strong> of
those reads matched a list of vehicles of interest (a "hit"). <strong>{report.shared}</strong>
hits were shared with other agencies. Reads are destroyed <strong>{report.retention_days}
days</strong> after they were collected, unless an investigative hold or a request from a
person facing a charge keeps them.</p>
{_chart(report)}
<p>Bars: reads per day. Red dots: days with hits.</p>
<h2>When each camera collected</h2><table>{_rows(cameras)}</table>
<h2>Hits, by what the list was for</h2><table>{_rows(list(report.hits_by_category.items()))}</table>
<h2>Lists the reads were compared against</h2><table>{_rows(lists)}</table>
<h2>Hits shared, by receiving agency</h2><table>{_rows(list(report.shared_with.items()))}</table>
<h2>Where the fixed cameras are and were</h2>
<p>From the agency's camera registry; the dates are when a camera was put at a place and
when it left it ("now": it is still there).</p><table>{_rows(places)}</table>
<p>Generated {report.generated_at:%Y-%m-%d %H:%M} UTC by lprx.</p>
</body></html>
"""
