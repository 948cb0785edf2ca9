"""`lprx identity ...`: check an agency identity provider's tokens against lprx's rules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from connectors.identity import OidcProviders
from pipelines.cli.common import console, fail, settings
from schemas.errors import ConfigurationError, RequestRefused

app = typer.Typer(
    help="An agency's own identity provider (OpenID Connect, LPRX_OIDC_*).",
    no_args_is_help=True,
)


@app.command("check-token")
def check_token(
    token_file: Annotated[
        Path | None,
        typer.Option(help="File holding the access token; default: read it from stdin."),
    ] = None,
) -> None:
    """Verify an access token as lprx would (LPRX_OIDC_ISSUER, LPRX_OIDC_PROVIDERS, ...)
    and show whom it names, or why it is refused. The token is read from a file or stdin,
    never argv."""
    token = (token_file.read_text("utf-8") if token_file else sys.stdin.read()).strip()
    try:
        providers = OidcProviders.from_config(settings())
        try:
            claims = providers.verify(token)
        finally:
            providers.close()
    except (ConfigurationError, RequestRefused) as error:
        raise fail(str(error)) from None
    console.print(
        f"accepted: [bold]{claims.username}[/] of [bold]{claims.agency_ori}[/], roles "
        f"{', '.join(sorted(claims.roles))}; subject {claims.subject}; expires "
        f"{claims.expires_at.isoformat()}",
        highlight=False,
    )
