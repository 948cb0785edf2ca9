"""The demo's summary: figures of this run, rows of all runs, and where to look next."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from pipelines.access import Role, as_role
from pipelines.demo.observed import Observed, metric_sum
from pipelines.demo.partners import check_partner_access
from pipelines.demo.scenario import AGENCIES, LAKESIDE, RIVERTON
from pipelines.settings import Settings


def summarize(settings: Settings, observed: Observed, started: float) -> dict[str, Any]:
    from connectors.cassandra import CassandraStore

    with CassandraStore(as_role(settings, Role.READER), create_schema=False) as store:
        rows = store.count("reads_by_plate")
        hit_rows = sum(len(store.hits_for_agency(a.ori, 100000)) for a in AGENCIES)
    access = check_partner_access(settings, RIVERTON.ori, LAKESIDE.ori)
    return {
        **observed.figures(),
        "partner_access": {
            "partner": access.partner_ori,
            "own_topic": access.own_topic,
            "own_hits_read": access.own_hits,
            "refused": access.refused,
        },
        "hits_delivered_per_agency": {
            a.ori: metric_sum(observed.pipeline, "lprx_hits_delivered_total", recipient=a.ori)
            for a in AGENCIES
        },
        "cassandra_rows_all_runs": {"reads_by_plate": rows, "hits_by_agency": hit_rows},
        "seconds": round(time.monotonic() - started, 1),
    }


def print_summary(console: Console, summary: dict[str, Any], hot: list[str]) -> None:
    console.rule("[bold]summary")
    console.print(
        f"reads in: {summary['reads_in']} ({summary['frames_read_by_ocr']} of them read by OCR "
        f"from {summary['frames_sent']} frames)"
    )
    console.print(f"duplicates dropped: {summary['duplicates_dropped']}")
    console.print(
        f"hotlist hits: {summary['hits']} ({summary['repeat_hits_not_re_alerted']} repeats of a "
        "car already alerted: stored, not re-alerted)"
    )
    for ori, count in summary["hits_delivered_per_agency"].items():
        name = next(a.name for a in AGENCIES if a.ori == ori)
        console.print(f"  delivered to {ori} ({name}): {count}")
    console.print(f"reads stored in Cassandra this run: {summary['reads_stored']}")
    console.print(f"rows in Cassandra, all runs: {summary['cassandra_rows_all_runs']}")
    console.print(f"dead letters: {summary['dead_letters']}")
    access = summary["partner_access"]
    console.print(
        f"partner {access['partner']} with its own credentials: read {access['own_hits_read']} "
        f"hits from {access['own_topic']}"
    )
    for topic, answer in access["refused"].items():
        console.print(f"  and asked for {topic}: refused by the broker ({answer})")
    console.rule("[bold]look further")
    lprx = ".venv/bin/lprx"
    why = (
        "--purpose stolen_vehicle --case DEMO-26-0001 "
        "--basis 'Reported stolen; plate on the demo hotlist.'"
    )
    for line in (
        f"{lprx} reads search {hot[0]} {why}   # Lakeside's reads (others': by agreement)",
        f"{lprx} reads search '{hot[0][:3]}*' {why}   # a partial plate",
        f"{lprx} partner hits            # the hits of your agency and shared with it",
        f"{lprx} logout; {lprx} login --username aud.lakeside ...; {lprx} audit show",
        f"{lprx} audit verify --from $(date -u +%F)   # the auditor: Lakeside's chain intact?",
        f"{lprx} holds place --case DEMO-26-0002 --reason 'vehicle seen at the scene' "
        f"--plate {hot[0]} --from $(date -u +%F) --to $(date -u +%FT%T)   # a supervisor",
        f"{lprx} transparency report --agency {LAKESIDE.ori} --from $(date -u +%F) "
        "--to $(date -u +%F) > use.html   # the public log of use",
        "curl -s http://127.0.0.1:6066/metrics | grep lprx_   # while a worker runs",
        f"{lprx} services status | down",
    ):
        console.print(f"  {line}")


def print_login(console: Console, settings: Settings, people: dict[str, tuple[Path, Path]]) -> None:
    """How to log in as the demo investigator; the secrets stay in their 0600 files."""
    from pipelines.api.wiring import api_url

    password, totp = people["inv.lakeside"]
    console.rule("[bold]log in as the demo investigator")
    console.print(f"the API runs at {api_url(settings)} while the demo runs; start it again "
                  "with `.venv/bin/lprx api` (with the workers for fresh data)")  # fmt: skip
    console.print(f"  password: in {password} (0600)")
    console.print(f"  second factor: enrol the URI in {totp} in an authenticator app, or, for "
                  "the demo only, print the current code:")  # fmt: skip
    script = "import pyotp,sys; print(pyotp.parse_uri(open(sys.argv[1]).read().strip()).now())"
    code = f'.venv/bin/python -c "{script}" {totp}'
    console.print(f"  {code}", soft_wrap=True, highlight=False)
    console.print(f"  .venv/bin/lprx login --username inv.lakeside --password-file {password}",
                  soft_wrap=True, highlight=False)  # fmt: skip
    console.print(
        "  the other demo people (operator, Lakeside administrator and auditor) have "
        f"their files beside it, in {password.parent}"
    )
    print_console_login(console, settings)


def print_console_login(console: Console, settings: Settings) -> None:
    """The web console: the same login, in a browser."""
    from pipelines.api.wiring import api_url

    console.rule("[bold]the web console")
    console.print(f"  open {api_url(settings)}/console/ (while `lprx api` runs) and log in as "
                  "inv.lakeside: the password from the file above, the code the command "
                  "above prints", soft_wrap=True, highlight=False)  # fmt: skip
    console.print(f"  the page's certificate is signed by the lprx CA, {settings.default_ca_file}"
                  ": import it in the browser, or accept the warning once", soft_wrap=True,
                  highlight=False)  # fmt: skip
    console.print("  search (purpose, case number, factual basis), the hits inbox with crops "
                  "and dispositions, the agreements; aud.lakeside sees the audit trail",
                  soft_wrap=True, highlight=False)  # fmt: skip
