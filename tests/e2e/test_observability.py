"""End to end, what an SRE sees: a real Prometheus (Debian's, loopback only) scrapes the
running worker and ingest, loads the alert rules, and every query of the dashboard
returns data; the worker says it is live and ready, and exports its own consumer lag.

Prometheus comes from ``deploy/tools.sh`` (``make tools``; ``make test`` runs it)."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml

from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.topic import publish_entries
from pipelines.dashboard_png import render as render_panels
from pipelines.settings import REPO_ROOT
from schemas.records import HotlistCategory
from tests.conftest import free_port, wait_for
from tests.e2e.harness import CODEC, OWNER, PARTNER, TOKENS, Running, partner_hits

DASHBOARD = REPO_ROOT / "deploy" / "helm" / "lprx" / "files" / "lprx-dashboard.json"
ALERTS = REPO_ROOT / "deploy" / "helm" / "lprx" / "files" / "alerts.yml"
TOOLS_BIN = REPO_ROOT / ".cache" / "tools" / "bin"
HOT_PLATE, COLD_PLATE = "OBS7701", "OBS0002"


def prometheus_binary() -> str:
    found = shutil.which("prometheus", path=f"{TOOLS_BIN}:/usr/bin:/usr/local/bin")
    assert found, "no prometheus binary: run `bash deploy/tools.sh` (make tools)"
    return found


@pytest.fixture(scope="module")
def prometheus(running: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("prometheus")
    settings = running.settings
    lprx = {"app_kubernetes_io_part_of": "lprx"}
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "e2e-worker",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{settings.metrics_port}"], "labels": lprx}
                ],
            },
            {
                "job_name": "e2e-ingest",
                "metrics_path": "/metrics/",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{settings.ingest_port}"], "labels": lprx}
                ],
            },
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            "--storage.tsdb.retention.time=1h",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def targets_up() -> bool:
            assert process.poll() is None, (folder / "prometheus.log").read_text()[-3000:]
            try:
                answer = httpx.get(f"{url}/api/v1/targets", timeout=2).json()
            except (httpx.HTTPError, ValueError):  # not up, or not ready (plain text)
                return False
            active = answer["data"]["activeTargets"]
            return len(active) == 2 and all(t["health"] == "up" for t in active)

        wait_for(targets_up, 60, "Prometheus scraping the worker and the ingest")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def query(url: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return list(answer["data"]["result"])


def has_data(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = (
                target["expr"]
                .replace("$__rate_interval", "1m")
                .replace("$stage", ".*")
                .replace("$consumergroup", ".*")
            )
            found.append((panel["title"], expr))
    return found


def make_traffic(running: Running) -> None:
    """What the panels show: reads in (one a hit), stored, a hit delivered, requests
    refused, and a record the normalize stage dead-letters."""
    source = HotlistSource("e2e-observe", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    entries = parse_csv(f"plate,state\n{HOT_PLATE},MN\n", source).entries
    publish_entries(running.settings, running.producer, CODEC, entries)
    now = datetime.now(UTC)
    assert running.post_read(COLD_PLATE, "cam-observe", now).status_code == 202
    url = f"{running.ingest_url}/v1/reads"
    assert httpx.post(url, content=b"{}", timeout=10).status_code == 401
    token = {"Authorization": f"Bearer {TOKENS[OWNER]}"}
    assert httpx.post(url, content=b"not json", headers=token, timeout=10).status_code == 422
    running.produce("reads.raw", b"\x00 not a read")


def test_every_dashboard_query_returns_data_and_every_rule_is_healthy(
    running: Running, prometheus: str
) -> None:
    make_traffic(running)

    def hit_delivered() -> bool:
        now = datetime.now(UTC)
        assert running.post_read(HOT_PLATE, "cam-observe-hot", now).status_code == 202
        return bool(partner_hits(running, PARTNER, HOT_PLATE))

    wait_for(hit_delivered, 120, "the hit delivered", every=3)
    queries = dashboard_queries()
    assert len(queries) >= 25

    cameras = itertools.count()

    def missing() -> list[str] | None:
        # Fresh reads keep the rates and quantiles over the last minute alive; each from
        # a camera of its own, or dedup would fold them into one pass.
        camera = f"cam-observe-{next(cameras)}"
        assert running.post_read(COLD_PLATE, camera, datetime.now(UTC)).status_code == 202
        empty = [
            f"{title}: {expr}" for title, expr in queries if not has_data(query(prometheus, expr))
        ]
        return empty or None

    try:
        wait_for(lambda: not missing(), 120, "every dashboard query to return data", every=2)
    except AssertionError:
        raise AssertionError(f"panels without data: {missing()}") from None

    stages = httpx.get(
        f"{prometheus}/api/v1/label/stage/values",
        params={"match[]": "lprx_records_total"},
        timeout=10,
    ).json()["data"]
    assert {"normalize", "match", "share", "store"} <= set(stages)

    def rules_evaluated() -> list[dict[str, Any]] | None:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if all(r.get("lastEvaluation", "").startswith("20") for r in rules) else None

    # The panels drawn from this Prometheus (the README's picture): each has data.
    picture = REPO_ROOT / ".cache" / "observability" / "dashboard.png"
    panels = len({title for title, _expr in queries})
    assert render_panels(prometheus, picture, minutes=3) == panels
    assert picture.stat().st_size > 10_000

    rules = wait_for(rules_evaluated, 30, "the rules evaluated")
    names = {rule["name"] for rule in rules}
    assert len(rules) == 20 and {"LprxTargetDown", "LprxConsumerLagHigh"} <= names
    unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert unhealthy == []
    # The targets are up and lprx's own health says so: these alerts stay quiet.
    firing = {r["name"] for r in rules if r["state"] == "firing"}
    assert not firing & {"LprxTargetDown", "LprxTargetsMissing", "LprxWorkerNotLive"}


def test_the_worker_is_live_ready_and_exports_its_own_consumer_lag(running: Running) -> None:
    base = f"http://127.0.0.1:{running.settings.metrics_port}"
    assert httpx.get(f"{base}/livez", timeout=5).text == "ok\n"
    assert httpx.get(f"{running.ingest_url}/readyz", timeout=10).json() == {"status": "ready"}

    def ready() -> bool:
        return httpx.get(f"{base}/readyz", timeout=5).status_code == 200

    wait_for(ready, 120, "the worker ready (followers caught up, Kafka and Cassandra answer)")
    group = f"{running.settings.topic_prefix}-ocr-normalize-match-share-store"

    def lag_rows() -> list[str] | None:
        text = httpx.get(f"{base}/metrics", timeout=5).text
        rows = [
            line
            for line in text.splitlines()
            if line.startswith("lprx_consumer_lag{") and f'group="{group}"' in line
        ]
        return rows or None

    rows = wait_for(lag_rows, 60, "lprx_consumer_lag of the worker's group")
    topics = {line.split('topic="')[1].split('"')[0] for line in rows}
    assert running.settings.topic("reads.raw") in topics
    assert running.settings.topic("hits") in topics
    text = httpx.get(f"{base}/metrics", timeout=5).text
    assert "lprx_follower_caught_up{" in text and "lprx_ready 1.0" in text
    # Each dead letter counted once as a record outcome and once by reason.
    running.produce("reads.raw", b"\x00 not a read either")
    reason = 'lprx_dead_letters_total{reason="DecodeError",stage="normalize"}'

    def decode_letters() -> float:
        found = httpx.get(f"{base}/metrics", timeout=5).text
        return sum(float(x.split()[-1]) for x in found.splitlines() if x.startswith(reason))

    wait_for(lambda: decode_letters() >= 1, 60, "the normalize dead letter counted")
    text = httpx.get(f"{base}/metrics", timeout=5).text
    by_outcome: dict[str, float] = {}
    by_reason: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("lprx_records_total{") and 'outcome="dead_letter"' in line:
            stage = line.split('stage="')[1].split('"')[0]
            by_outcome[stage] = by_outcome.get(stage, 0.0) + float(line.split()[-1])
        elif line.startswith("lprx_dead_letters_total{"):
            stage = line.split('stage="')[1].split('"')[0]
            by_reason[stage] = by_reason.get(stage, 0.0) + float(line.split()[-1])
    assert by_outcome == by_reason and sum(by_reason.values()) >= 1


def test_services_status_shows_the_worker_verdict(running: Running) -> None:
    from typer.testing import CliRunner

    from pipelines import cli

    worker = f"127.0.0.1:{running.settings.metrics_port}"
    result = CliRunner().invoke(
        cli.app, ["services", "status", "--worker", worker], env={"COLUMNS": "200"}
    )
    assert worker in result.output and "ready" in result.output, result.output


def test_top_shows_the_running_stages_and_lag(running: Running) -> None:
    from typer.testing import CliRunner

    from pipelines import cli

    assert running.post_read(COLD_PLATE, "cam-observe-top", datetime.now(UTC)).status_code == 202
    worker = f"127.0.0.1:{running.settings.metrics_port}"
    result = CliRunner().invoke(
        cli.app,
        ["top", "--target", worker, "--interval", "2", "--once"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "normalize" in result.output and "store" in result.output
    assert running.settings.topic("reads.raw") in result.output
    assert "ready" in result.output
