"""The first consortium operator, made locally with the setup credentials: the one
thing that works without a login (``lprx people bootstrap``)."""

from __future__ import annotations

from pipelines.api.wiring import identity_service
from pipelines.identity.accounts import NewPerson
from pipelines.settings import Settings
from schemas.people import Role


def bootstrap_operator(settings: Settings, username: str, password: str) -> NewPerson:
    """An operator of the consortium (``api_consortium_ori``); ``settings`` log in as the
    schema owner. Refused if the username is taken."""
    with identity_service(settings) as (_store, identity):
        return identity.add_person(
            username, settings.api_consortium_ori, frozenset({Role.OPERATOR}), password,
            created_by="bootstrap",
        )  # fmt: skip
