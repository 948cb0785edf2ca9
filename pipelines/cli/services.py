"""`lprx services ...`: fetch, start, check, stop and read the logs of the local servers."""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from connectors.servers.base import ServerError, ServerStatus, tail
from connectors.servers.manager import SERVERS, SERVICES, down, fetch, status, up
from pipelines.settings import get_settings

app = typer.Typer(
    help="Local Kafka and Cassandra (jars from Maven Central, no Docker); Keycloak, an "
    "agency identity provider for tests and the demo, when named (`up keycloak`).",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

ServiceName = Enum("ServiceName", {name: name for name in SERVERS}, type=str)  # type: ignore[misc]

ServicesArg = Annotated[
    list[ServiceName] | None,
    typer.Argument(help="Which servers (default: kafka and cassandra).", show_default=False),
]


def _names(services: Sequence[ServiceName] | None) -> list[str]:
    return [s.value for s in services] if services else list(SERVICES)


def _progress(name: str, message: str) -> None:
    console.print(f"[bold]{name:>9}[/] {message}")


def _table(rows: list[ServerStatus]) -> Table:
    table = Table(title="lprx local servers")
    for column in ("service", "version", "pid", "port", "ready"):
        table.add_column(column, no_wrap=True)
    table.add_column("log", overflow="fold")
    for row in rows:
        if row.ready:
            state = "[green]ready[/]"
        elif row.port_open:
            state = "[yellow]listening, not answering[/]"
        elif row.pid is not None:
            state = "[yellow]starting[/]"
        else:
            state = "[red]stopped[/]"
        pid = str(row.pid) if row.pid is not None else "-"
        table.add_row(row.name, row.version, pid, str(row.port), state, str(row.log))
    return table


def _fail(error: ServerError) -> typer.Exit:
    err_console.print(f"[red]error:[/] {error}", highlight=False)
    return typer.Exit(1)


@app.command("up")
def up_cmd(
    services: ServicesArg = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait per server (default: 90 Kafka, 180 Cassandra, 420 Keycloak)."
        ),
    ] = None,
) -> None:
    """Fetch (once) and start the servers; return when they answer."""
    started = time.monotonic()
    try:
        with console.status("starting servers..."):
            rows = up(get_settings(), _names(services), timeout=timeout, progress=_progress)
    except ServerError as e:
        raise _fail(e) from None
    console.print(_table(rows))
    console.print(f"up in {time.monotonic() - started:.1f}s")


def _worker_table(workers: Sequence[str]) -> tuple[Table, bool]:
    """Each worker's own verdicts (its /livez and /readyz), as its probes see them."""
    import httpx

    table = Table(title="lprx workers")
    for column in ("worker", "live", "ready"):
        table.add_column(column, no_wrap=True)
    table.add_column("problems", overflow="fold")
    all_ready = True
    for worker in workers:
        verdicts: dict[str, tuple[bool, str]] = {}
        for probe in ("livez", "readyz"):
            try:
                answer = httpx.get(f"http://{worker}/{probe}", timeout=5)
                verdicts[probe] = (answer.status_code == 200, answer.text.strip())
            except httpx.HTTPError as error:
                verdicts[probe] = (False, f"no answer ({type(error).__name__})")
        live, ready = verdicts["livez"][0], verdicts["readyz"][0]
        all_ready = all_ready and ready
        problems = "" if ready else verdicts["readyz"][1].replace("\n", "; ")
        table.add_row(
            worker,
            "[green]live[/]" if live else "[red]not live[/]",
            "[green]ready[/]" if ready else "[red]not ready[/]",
            problems,
        )
    return table, all_ready


@app.command("status")
def status_cmd(
    services: ServicesArg = None,
    worker: Annotated[
        list[str] | None,
        typer.Option(help="HOST:PORT of a worker's metrics port: show its live/ready verdict."),
    ] = None,
) -> None:
    """Show whether each server runs and answers, and each --worker whether it is live
    and ready (the checks its probes make); exit 1 if one is not."""
    try:
        rows = status(get_settings(), _names(services))
    except ServerError as e:
        raise _fail(e) from None
    console.print(_table(rows))
    workers_ready = True
    if worker:
        table, workers_ready = _worker_table(worker)
        console.print(table)
    if not all(row.ready for row in rows) or not workers_ready:
        raise typer.Exit(1)


@app.command("down")
def down_cmd(
    services: Annotated[
        list[ServiceName] | None,
        typer.Argument(
            help="Which servers (default: every one, Keycloak too).", show_default=False
        ),
    ] = None,
) -> None:
    """Stop the servers (SIGTERM, then SIGKILL after a grace period). Data is kept."""
    names = [s.value for s in services] if services else list(SERVERS)
    try:
        with console.status("stopping servers..."):
            down(get_settings(), names, progress=_progress)
    except ServerError as e:
        raise _fail(e) from None


@app.command("fetch")
def fetch_cmd(
    services: ServicesArg = None,
    force: Annotated[bool, typer.Option(help="Fetch again even if already fetched.")] = False,
) -> None:
    """Download the server jars from Maven Central (done by `up` when needed)."""
    try:
        with console.status("fetching jars..."):
            fetch(get_settings(), _names(services), force=force, progress=_progress)
    except ServerError as e:
        raise _fail(e) from None
    console.print("jars are in place")


@app.command("logs")
def logs_cmd(
    service: Annotated[ServiceName, typer.Argument(help="Which server.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="The JVM's stdout/stderr instead of the log.")
    ] = False,
) -> None:
    """Print the end of a server's log."""
    server = SERVERS[service.value](get_settings())
    path = server.stdout_file if stdout else server.log_file
    if not path.exists():
        err_console.print(f"[red]error:[/] no log yet at {path}", highlight=False)
        raise typer.Exit(1)
    text = tail(path, lines)
    if text:
        print(text)
    if not follow:
        return
    position = path.stat().st_size
    try:
        while True:
            time.sleep(0.5)
            size = path.stat().st_size if path.exists() else 0
            if size < position:  # the log rolled over: start at the new file's top
                position = 0
            if size > position:
                with path.open("rb") as f:
                    f.seek(position)
                    chunk = f.read()
                position += len(chunk)
                print(chunk.decode("utf-8", "replace"), end="", flush=True)
    except KeyboardInterrupt:
        pass
