"""What the demo observes: what the cameras sent, and the processes' /metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.live import Live
from rich.table import Table

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """The samples of one /metrics endpoint (empty while it is not up)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2, follow_redirects=True).text
    except httpx.HTTPError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_sum(samples: Samples, name: str, **labels: str) -> int:
    return int(
        sum(
            value
            for (sample_name, sample_labels), value in samples.items()
            if sample_name == name
            and all(dict(sample_labels).get(k) == v for k, v in labels.items())
        )
    )


@dataclass
class Observed:
    """What the demo knows: what the cameras sent, and what the processes report."""

    ports: tuple[int, int, int]  # pipeline worker, OCR worker, ingest
    posted: int = 0
    refused_posts: int = 0
    repeats_sent: int = 0
    frames_sent: int = 0
    pipeline: Samples = field(default_factory=dict)
    ocr: Samples = field(default_factory=dict)
    ingest: Samples = field(default_factory=dict)

    def refresh(self) -> None:
        pipeline_port, ocr_port, ingest_port = self.ports
        self.pipeline, self.ocr, self.ingest = (
            scrape(pipeline_port),
            scrape(ocr_port),
            scrape(ingest_port),
        )

    def records(
        self, samples: Samples, stage: str | None = None, outcome: str | None = None
    ) -> int:
        labels = {k: v for k, v in (("stage", stage), ("outcome", outcome)) if v is not None}
        return metric_sum(samples, "lprx_records_total", **labels)

    def figures(self) -> dict[str, int]:
        ocr_reads = self.records(self.ocr, "ocr", "ok")
        return {
            "camera_posts": self.posted,
            "camera_posts_refused": self.refused_posts,
            "repeat_reads_sent": self.repeats_sent,
            "frames_sent": self.frames_sent,
            "reads_in": metric_sum(self.ingest, "lprx_ingest_reads_total", outcome="accepted")
            + ocr_reads,
            "frames_read_by_ocr": ocr_reads,
            "frames_without_plate": self.records(self.ocr, "ocr", "no_plate"),
            "duplicates_dropped": self.records(self.pipeline, "dedup", "duplicate"),
            "hits": self.records(self.pipeline, "match", "hit"),
            "repeat_hits_not_re_alerted": self.records(self.pipeline, "share", "suppressed"),
            "reads_stored": self.records(self.pipeline, "store", "ok"),
            "dead_letters": self.records(self.pipeline, outcome="dead_letter")
            + self.records(self.ocr, outcome="dead_letter"),
        }

    def table(self, elapsed: float) -> Table:
        table = Table(title=f"lprx demo, {elapsed:.0f} s")
        table.add_column("what")
        table.add_column("count", justify="right")
        for name, value in self.figures().items():
            table.add_row(name.replace("_", " "), str(value))
        return table


def wait_drained(observed: Observed, live: Live, started: float, timeout: float = 120) -> None:
    """Until every accepted read is through dedup and store, and every frame is read."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        observed.refresh()
        live.update(observed.table(time.monotonic() - started))
        figures = observed.figures()
        frames_done = (
            figures["frames_read_by_ocr"]
            + figures["frames_without_plate"]
            + observed.records(observed.ocr, "ocr", "dead_letter")
        )
        through_dedup = observed.records(observed.pipeline, "dedup")
        stored_or_dropped = figures["reads_stored"] + figures["duplicates_dropped"]
        if (
            frames_done >= observed.frames_sent
            and through_dedup >= figures["reads_in"]
            and stored_or_dropped >= through_dedup
        ):
            return
        time.sleep(0.5)
