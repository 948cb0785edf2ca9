"""`lprx top` turns two scrapes into rates, p95 per record, lag and health."""

from __future__ import annotations

import math

from rich.console import Console

from pipelines.cli.top import parse, quantile, render, summarize

BEFORE = """
lprx_records_total{stage="match",outcome="no_hit"} 100
lprx_records_total{stage="match",outcome="dead_letter"} 1
lprx_stage_latency_ms_bucket{stage="match",le="1.0"} 0
lprx_stage_latency_ms_bucket{stage="match",le="10.0"} 50
lprx_stage_latency_ms_bucket{stage="match",le="+Inf"} 100
lprx_consumer_lag{group="p-all",topic="p.reads",partition="0"} 7
lprx_live 1
lprx_ready 1
"""
AFTER = """
lprx_records_total{stage="match",outcome="no_hit"} 190
lprx_records_total{stage="match",outcome="dead_letter"} 11
lprx_stage_latency_ms_bucket{stage="match",le="1.0"} 0
lprx_stage_latency_ms_bucket{stage="match",le="10.0"} 150
lprx_stage_latency_ms_bucket{stage="match",le="+Inf"} 200
lprx_consumer_lag{group="p-all",topic="p.reads",partition="0"} 40
lprx_consumer_lag{group="p-all",topic="p.reads",partition="1"} 2
lprx_live 1
lprx_ready 0
"""


def test_two_scrapes_give_rates_latency_lag_and_health() -> None:
    other = parse(AFTER.replace('partition="1"} 2', 'partition="1"} 1'))
    snapshot = summarize(
        {"w1": parse(BEFORE), "w2": parse(BEFORE)}, {"w1": parse(AFTER), "w2": other}, 10.0
    )
    match = snapshot.stages["match"]
    assert match.rate == (90 + 10) * 2 / 10.0
    assert match.dead_letters == 20
    # 200 new observations over both workers, all within 10 ms: p95 inside (1, 10].
    assert 1.0 < match.p95_ms <= 10.0
    assert snapshot.lag == {("p-all", "p.reads"): 42.0}  # max over replicas, sum of partitions
    assert snapshot.health == {"w1": "live, not ready", "w2": "live, not ready"}
    console = Console(record=True, width=120)
    console.print(render(snapshot, 10.0))
    text = console.export_text()
    assert "p.reads" in text and "match" in text and "9.5" in text


def test_quantile_interpolates_like_prometheus() -> None:
    assert quantile(0.5, {10.0: 50.0, 20.0: 100.0, math.inf: 100.0}) == 10.0
    assert quantile(0.75, {10.0: 50.0, 20.0: 100.0, math.inf: 100.0}) == 15.0
    assert math.isnan(quantile(0.95, {10.0: 0.0, math.inf: 0.0}))
