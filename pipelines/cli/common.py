"""What every command module shares: the console, the settings, errors as exit code 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from pipelines.access import Role, as_role
from pipelines.settings import Settings, get_settings
from schemas.errors import ConfigurationError, InvalidRecord, RequestRefused, TransientError

console = Console()


def settings() -> Settings:
    """The settings every command uses (tests replace this function)."""
    return get_settings()


def settings_as(role: Role) -> Settings:
    """The settings of a command run as ``role``: its Kafka principal and Cassandra role
    (``pipelines/access.py``), unless the settings name them."""
    return as_role(settings(), role)


def fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


@contextmanager
def refusals() -> Iterator[None]:
    """A refused request, a server that did not answer or a configuration to fix ends
    the command with its reason and exit code 1."""
    try:
        yield
    except (RequestRefused, InvalidRecord, TransientError, ConfigurationError) as error:
        raise fail(str(error)) from error
