"""`lprx login | logout | password`, `lprx people bootstrap | add | list | disable | reset |
service`.

Secrets never go through argv: a password is prompted for (or read from a file, ``-``
for standard input), and a TOTP enrolment URI or a service key is written 0600 to a
file rather than printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.access import Role as ProcessRole
from pipelines.cli import common
from pipelines.cli.common import console, fail, refusals
from pipelines.cli.session import answer_of, call, client, save_session, saved_session, session_file
from schemas.people import Role

app = typer.Typer(help="People and service accounts.", no_args_is_help=True)

PasswordFile = Annotated[
    Path | None, typer.Option(help="Read the password from this file ('-': standard input).")
]
SecretOut = Annotated[
    Path | None, typer.Option(help="Write the TOTP enrolment URI (or key) here, 0600.")
]


def read_password(file: Path | None, *, confirm: bool, label: str = "Password") -> str:
    if file is not None:
        text = sys.stdin.readline() if str(file) == "-" else file.read_text("utf-8")
        return text.rstrip("\n")
    value: str = typer.prompt(label, hide_input=True, confirmation_prompt=confirm)
    return value


def hand_over(secret: str, file: Path | None, default: Path, what: str) -> None:
    from connectors.security.files import write_secret

    path = write_secret(file or default, secret + "\n")
    console.print(f"{what} written to {path} (0600): give it to its holder, then delete it")


def login(
    username: Annotated[str, typer.Option(prompt=True, help="Your individual login.")],
    password_file: PasswordFile = None,
    code: Annotated[
        str | None, typer.Option(help="The TOTP code (prompted for if not given).")
    ] = None,
    url: Annotated[str | None, typer.Option(help="The API (default LPRX_API_URL).")] = None,
) -> None:
    """Log in with your password and second factor; keeps a session token (0600)."""
    settings = common.settings()
    with client(settings, url) as http:
        banner = answer_of(http.get("/health"))["banner"]
        console.print(f"[bold]{banner}[/bold]")
        password = read_password(password_file, confirm=False)
        totp = code or typer.prompt("TOTP code")
        answer = answer_of(http.post("/v1/login", json={
            "username": username, "password": password, "code": totp,
        }))  # fmt: skip
        path = save_session(str(http.base_url).rstrip("/"), answer)
    console.print(f"logged in as {answer['username']} of {answer['agency_ori']} "
                  f"({', '.join(answer['roles'])}) until {answer['expires_at']} at the latest, "
                  f"{answer['idle_minutes']:g} minutes idle; session in {path}")  # fmt: skip
    if answer.get("password_change_required"):
        console.print(
            "[bold]your password was set by an administrator: change it now "
            "(`lprx password`); until then this session can do nothing else[/bold]"
        )


def logout() -> None:
    """End your session now and delete its token."""
    if saved_session() is not None:
        try:
            call(common.settings(), "POST", "/v1/logout")
        finally:
            session_file().unlink(missing_ok=True)
    console.print("logged out")


@app.command("bootstrap")
def bootstrap(
    username: Annotated[str, typer.Option(help="The first operator's login.")],
    password_file: PasswordFile = None,
    totp_file: SecretOut = None,
    generate_password: Annotated[bool, typer.Option(
        "--generate-password", help="Generate a one-time password (written to the TOTP "
        "file with the enrolment URI) that the operator must change at first login.",
    )] = False,
) -> None:  # fmt: skip
    """Make the first consortium operator, locally, with the setup credentials."""
    from pipelines.identity.accounts import one_time_password
    from pipelines.identity.bootstrap import bootstrap_operator

    settings = common.settings_as(ProcessRole.SETUP)
    if generate_password:
        password = one_time_password()
    else:
        password = read_password(password_file, confirm=password_file is None)
    with refusals():
        new = bootstrap_operator(settings, username, password, one_time=generate_password)
    secret, what = new.totp_uri, f"operator {username} made; TOTP enrolment URI"
    if generate_password:
        secret = f"one-time password: {password}\nTOTP enrolment URI: {new.totp_uri}"
        what += " and one-time password (changed at first login: `lprx password`)"
    hand_over(secret, totp_file, settings.secrets_dir / "people" / f"{username}.totp", what)


@app.command("add")
def add(
    username: str,
    role: Annotated[list[Role], typer.Option(help="A role; repeatable.")],
    agency: Annotated[str | None, typer.Option(help="Default: your own agency.")] = None,
    password_file: PasswordFile = None,
    totp_file: SecretOut = None,
) -> None:
    """Add a person (an administrator: of its agency; the operator: administrators)."""
    settings = common.settings()
    password = read_password(password_file, confirm=password_file is None)
    body = {"username": username, "roles": [r.value for r in role], "password": password,
            "agency_ori": agency}  # fmt: skip
    answer = call(settings, "POST", "/v1/people", json=body)
    hand_over(answer["totp_uri"], totp_file, settings.secrets_dir / "people" / f"{username}.totp",
              f"{username} of {answer['agency_ori']} ({', '.join(answer['roles'])}); "
              "TOTP enrolment URI")  # fmt: skip
    console.print("they change the password you chose at their first login (`lprx password`)")


@app.command("service")
def add_service(
    username: str,
    agency: Annotated[str, typer.Option(help="The agency the service acts for.")],
    key_file: SecretOut = None,
) -> None:
    """Add a service account (the operator); its key is written to a 0600 file."""
    settings = common.settings()
    answer = call(settings, "POST", "/v1/service-accounts",
                  json={"username": username, "agency_ori": agency})  # fmt: skip
    hand_over(answer["key"], key_file, settings.secrets_dir / "people" / f"{username}.key",
              f"service {username} of {agency}; key")  # fmt: skip


@app.command("list")
def list_people(agency: Annotated[str | None, typer.Option()] = None) -> None:
    """The accounts of your agency (the operator: of any agency)."""
    rows = call(common.settings(), "GET", "/v1/people",
                params={"agency_ori": agency} if agency else None)  # fmt: skip
    table = Table("username", "kind", "agency", "roles", "last used", "state")
    for p in rows:
        state = f"disabled: {p['disabled_reason']}" if p["disabled_at"] else "active"
        if p.get("must_change_password") and not p["disabled_at"]:
            state = "active, password change due"
        table.add_row(p["username"], p["kind"], p["agency_ori"], ", ".join(p["roles"]),
                      p["last_used_at"] or "never", state)  # fmt: skip
    console.print(table)


@app.command("disable")
def disable(username: str) -> None:
    """Disable an account at once."""
    call(common.settings(), "POST", f"/v1/people/{username}/disable")
    console.print(f"{username}: disabled")


@app.command("reset")
def reset(
    username: str,
    secret_file: Annotated[
        Path | None, typer.Option(help="Write the credentials here (0600) instead of the terminal.")
    ] = None,
) -> None:
    """A person's new one-time password and second factor (an administrator: of its
    agency; the operator: administrators), shown once; their sessions end at once."""
    answer = call(common.settings(), "POST", f"/v1/people/{username}/reset")
    credentials = (f"one-time password: {answer['password']}\n"
                   f"TOTP enrolment URI: {answer['totp_uri']}")  # fmt: skip
    console.print(f"{username} of {answer['agency_ori']}: credentials reset, every session ended")
    if secret_file is not None:
        hand_over(credentials, secret_file, secret_file, "the new credentials")
        return
    # Printed to this terminal only, once: lprx keeps no copy and logs none.
    console.print(credentials, markup=False, highlight=False)
    console.print("give them to the person only; at their first login they must change the "
                  "password (`lprx password`) before anything else")  # fmt: skip


def password(current_file: PasswordFile = None, new_file: PasswordFile = None) -> None:
    """Change your own password (after a reset, say); your other sessions end."""
    current = read_password(current_file, confirm=False, label="Current password")
    new = read_password(new_file, confirm=new_file is None, label="New password")
    call(common.settings(), "POST", "/v1/me/password",
         json={"current_password": current, "new_password": new})  # fmt: skip
    console.print("password changed; your other sessions (other logins, other tokens) are ended")


__all__ = ["app", "fail", "login", "logout", "password"]
