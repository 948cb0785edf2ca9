"""The first consortium operator, made locally with the setup credentials: the one
thing that works without a login (``lprx people bootstrap``)."""

from __future__ import annotations

from pipelines.api.wiring import identity_service
from pipelines.identity.accounts import NewPerson
from pipelines.settings import Settings
from schemas.people import Role


def bootstrap_operator(
    settings: Settings, username: str, password: str, *, one_time: bool = False
) -> NewPerson:
    """An operator of the consortium (``api_consortium_ori``); ``settings`` log in as the
    schema owner. Refused if the username is taken. ``one_time``: the password was
    generated, not chosen by the operator, who must change it at first login."""
    with identity_service(settings) as (_store, identity):
        return identity.add_person(
            username, settings.api_consortium_ori, frozenset({Role.OPERATOR}), password,
            created_by="bootstrap", must_change_password=one_time,
        )  # fmt: skip
