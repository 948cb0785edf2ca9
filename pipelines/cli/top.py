"""`lprx top`: live per-stage rates, latency, lag and health in the terminal, for an SRE
without Grafana. It reads the workers' (and the ingest's) own /metrics twice, an
interval apart, and shows what changed in between."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated

import typer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.live import Live
from rich.table import Table

from pipelines.cli.common import console

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape(target: str) -> Samples:
    import httpx

    path = "" if "/" in target else "/metrics"
    return parse(httpx.get(f"http://{target}{path}", timeout=5, follow_redirects=True).text)


def quantile(q: float, buckets: dict[float, float]) -> float:
    """``histogram_quantile`` over cumulative bucket increases (upper bound -> count)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank, below, lower = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            width = count - below
            return lower + (bound - lower) * ((rank - below) / width if width else 0.0)
        below, lower = count, bound
    return lower


@dataclass
class StageView:
    rate: float = 0.0
    dead_letters: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)

    @property
    def p95_ms(self) -> float:
        return quantile(0.95, self.buckets)


@dataclass
class Snapshot:
    stages: dict[str, StageView]
    lag: dict[tuple[str, str], float]
    health: dict[str, str]


def summarize(before: dict[str, Samples], after: dict[str, Samples], seconds: float) -> Snapshot:
    """What changed between two scrapes of each target, ``seconds`` apart."""
    stages: dict[str, StageView] = defaultdict(StageView)
    lag: dict[tuple[str, str, str], float] = {}
    health: dict[str, str] = {}
    for target, now in after.items():
        then = before.get(target, {})
        for (name, labels), value in now.items():
            label = dict(labels)
            delta = value - then.get((name, labels), 0.0)
            if name == "lprx_records_total":
                stages[label["stage"]].rate += delta / seconds
                if label.get("outcome") == "dead_letter":
                    stages[label["stage"]].dead_letters += delta
            elif name == "lprx_stage_latency_ms_bucket":
                buckets = stages[label["stage"]].buckets
                bound = float(label["le"])
                buckets[bound] = buckets.get(bound, 0.0) + delta
            elif name == "lprx_consumer_lag":
                key = (label["group"], label["topic"], label["partition"])
                lag[key] = max(lag.get(key, 0.0), value)  # replicas report the same
        if ("lprx_live", ()) in now:
            live = now[("lprx_live", ())] == 1.0
            ready = now.get(("lprx_ready", ()), 0.0) == 1.0
            health[target] = "ready" if ready else ("live, not ready" if live else "NOT LIVE")
    by_topic: dict[tuple[str, str], float] = defaultdict(float)
    for (group, topic, _partition), value in lag.items():
        by_topic[(group, topic)] += value
    return Snapshot(dict(stages), dict(by_topic), health)


def render(snapshot: Snapshot, seconds: float) -> Group:
    stages = Table(title=f"stages (last {seconds:.0f} s)")
    for column in ("stage", "records/s", "p95 ms/record", "dead letters"):
        stages.add_column(column, justify="right" if column != "stage" else "left")
    for name, view in sorted(snapshot.stages.items()):
        p95 = "-" if math.isnan(view.p95_ms) else f"{view.p95_ms:.1f}"
        stages.add_row(name, f"{view.rate:.1f}", p95, f"{view.dead_letters:.0f}")
    lag = Table(title="consumer lag")
    for column in ("group", "topic", "records"):
        lag.add_column(column)
    for (group, topic), value in sorted(snapshot.lag.items()):
        lag.add_row(group, topic, f"{value:.0f}")
    health = Table(title="workers")
    health.add_column("target")
    health.add_column("health")
    for target, state in sorted(snapshot.health.items()):
        colour = "green" if state == "ready" else "red"
        health.add_row(target, f"[{colour}]{state}[/]")
    return Group(stages, lag, health)


def _scrape_all(targets: Iterable[str]) -> dict[str, Samples]:
    return {target: scrape(target) for target in targets}


def top(
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            help="HOST:PORT of a worker's metrics port, or HOST:PORT/metrics/ of an ingest.",
        ),
    ],
    interval: Annotated[float, typer.Option(help="Seconds between two scrapes.")] = 5.0,
    once: Annotated[bool, typer.Option(help="Show one interval, then exit.")] = False,
) -> None:
    """Live per-stage rates, p95 latency, dead letters, consumer lag and health."""
    targets: Sequence[str] = target
    before = _scrape_all(targets)
    if once:
        time.sleep(interval)
        console.print(render(summarize(before, _scrape_all(targets), interval), interval))
        return
    with Live(console=console, refresh_per_second=1) as live:
        while True:
            time.sleep(interval)
            after = _scrape_all(targets)
            live.update(render(summarize(before, after, interval), interval))
            before = after
