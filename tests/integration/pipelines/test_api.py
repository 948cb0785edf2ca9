"""The API on the real Kafka and Cassandra: people in Cassandra, agreements followed from
their topic, searches scoped and audited on the audit topic, the API's Cassandra role
the only one that reaches the identity tables, and `lprx api` serving HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pyotp
import pytest
from cassandra import Unauthorized
from fastapi.testclient import TestClient

from connectors.cassandra import CassandraStore, connect
from connectors.cassandra.rows import read_day
from connectors.cassandra.security import API_ROLE, READER_ROLE, WRITER_ROLE
from connectors.kafka.reader import read_values
from pipelines.access import Role as ProcessRole
from pipelines.access import as_role
from pipelines.api.app import create_api_app
from pipelines.api.wiring import running_services
from pipelines.identity.bootstrap import bootstrap_operator
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.people import Role
from schemas.records import AuditAction, AuditEvent, AuditOutcome, SharingAgreement, utcnow
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.factories import a_read

A, C = "MN9990101", "MN9990303"
PASSWORD = "integration password 1"
OWN_PASSWORD = "a password of my own 2"
CODEC = SingleObjectCodec()
WHY = {"purpose": "criminal_investigation", "case_number": "26-000777",
       "factual_basis": "Burglary suspect vehicle seen near the scene by a witness."}  # fmt: skip


@pytest.fixture(scope="module")
def settings(servers: Settings) -> Iterator[Settings]:
    settings = provision(unique_settings(servers, topic_partitions=1))
    yield settings
    cluster, session = connect(settings)
    try:
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
    finally:
        cluster.shutdown()


def api_settings(settings: Settings) -> Settings:
    unnamed = settings.model_copy(update={"kafka_principal": None, "cassandra_username": None})
    return as_role(unnamed, ProcessRole.API)


class People:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.totp: dict[str, pyotp.TOTP] = {}
        self.sessions: dict[str, dict[str, str]] = {}
        self.passwords: dict[str, str] = {}

    def login(self, username: str) -> dict[str, str]:
        """A session of ``username`` (one login each: a TOTP code logs in once). A person
        an administrator added changes the password first, as the API insists."""
        if username in self.sessions:
            return self.sessions[username]
        password = self.passwords.get(username, PASSWORD)
        answer = self.client.post("/v1/login", json={
            "username": username, "password": password, "code": self.totp[username].now(),
        })  # fmt: skip
        assert answer.status_code == 200, answer.text
        headers = {"Authorization": f"Bearer {answer.json()['token']}"}
        if answer.json()["password_change_required"]:
            refused = self.client.get("/v1/me", headers=headers)
            assert refused.status_code == 403, refused.text
            self.passwords[username] = OWN_PASSWORD
            changed = self.client.post("/v1/me/password", headers=headers, json={
                "current_password": password, "new_password": OWN_PASSWORD,
            })  # fmt: skip
            assert changed.status_code == 200, changed.text
        self.sessions[username] = headers
        return headers

    def enrol(self, uri: str, username: str) -> None:
        totp = pyotp.parse_uri(uri)
        assert isinstance(totp, pyotp.TOTP)
        self.totp[username] = totp


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[tuple[TestClient, People, Any]]:
    new = bootstrap_operator(settings, "op.int", PASSWORD)
    with running_services(api_settings(settings)) as services:
        client = TestClient(create_api_app(services))
        people = People(client)
        people.enrol(new.totp_uri, "op.int")
        operator = people.login("op.int")
        for admin, agency in (("admin.a", A), ("admin.c", C)):
            made = client.post("/v1/people", headers=operator, json={
                "username": admin, "agency_ori": agency, "roles": ["agency_admin"],
                "password": PASSWORD,
            })  # fmt: skip
            assert made.status_code == 200, made.text
            people.enrol(made.json()["totp_uri"], admin)
        for inv, admin in (("inv.a", "admin.a"), ("inv.c", "admin.c")):
            made = client.post("/v1/people", headers=people.login(admin), json={
                "username": inv, "roles": [Role.INVESTIGATOR.value], "password": PASSWORD,
            })  # fmt: skip
            assert made.status_code == 200, made.text
            people.enrol(made.json()["totp_uri"], inv)
        yield client, people, services


def audit_events(settings: Settings, want: Any) -> list[AuditEvent]:
    def found() -> list[AuditEvent] | None:
        values = read_values(settings, settings.topic("audit"), 1000, 5)
        events = [AuditEvent.decode(CODEC, v) for v in values]
        return events if any(want(e) for e in events) else None

    return [e for e in wait_for(found, 30, "the audit event") if want(e)]


def search(client: TestClient, headers: dict[str, str], **query: Any) -> Any:
    now = utcnow()
    window = {"start": (now - timedelta(days=1)).isoformat(), "end": now.isoformat()}
    return client.post("/v1/reads/search", headers=headers, json={**WHY, **window, **query})


def test_c_sees_no_read_of_a_without_an_agreement_and_sees_them_with_one(
    settings: Settings, api: tuple[TestClient, People, Any]
) -> None:
    client, people, services = api
    now = utcnow()
    reads = [a_read(plate="INT417", agency_ori=A, collected_at=now - timedelta(minutes=5),
                    latitude=44.98, longitude=-93.26),
             a_read(plate="INT418", agency_ori=A, collected_at=now - timedelta(minutes=4)),
             a_read(plate="INT417", agency_ori=C, collected_at=now - timedelta(minutes=3))]  # fmt: skip
    with CassandraStore(settings, create_schema=False) as store:
        assert all(o.ok for o in store.write_reads(reads, now))
        # The search table's copy of a read expires with the read (retention).
        ks = settings.cassandra_keyspace
        ttls = {
            row[0]: row[1]
            for row in store.session.execute(
                f"SELECT plate, TTL(agency_ori) FROM {ks}.reads_by_plate WHERE plate = 'INT418'"
            )
        }
        day_ttls = store.session.execute(
            f"SELECT TTL(plate) FROM {ks}.reads_by_agency_day WHERE agency_ori = %s AND day = %s",
            (A, read_day(reads[1].collected_at)),
        ).all()
        assert len(day_ttls) == 2 and abs(max(r[0] for r in day_ttls) - ttls["INT418"]) <= 2
    inv_c = people.login("inv.c")

    own = search(client, inv_c, plate="INT417")
    assert own.status_code == 200, own.text
    assert [r["read_id"] for r in own.json()["reads"]] == [reads[2].read_id]
    refused = search(client, inv_c, plate="INT417", agencies=[A])
    assert refused.status_code == 403
    denied = audit_events(settings, lambda e: e.actor == "inv.c"
                          and e.outcome is AuditOutcome.DENIED
                          and "case_number" in e.details)  # fmt: skip
    assert denied[0].action is AuditAction.ACCESS_DENIED and A in denied[0].details["reason"]
    assert denied[0].details["case_number"] == "26-000777"

    # A's administrator proposes sharing A's reads with C: a widening (a new partner),
    # so it waits for a second approver of A and shares nothing meanwhile.
    shared = client.post("/v1/agreements", headers=people.login("admin.a"), json={
        "partner_agency_ori": C, "share_reads": True, "legal_basis": "JPA 2026-11",
    })  # fmt: skip
    assert shared.status_code == 200, shared.text
    assert (shared.json()["status"], shared.json()["widens"]) == (
        "pending",
        [f"a new partner, {C}"],
    )
    # Waited for: the proposal is on the agreements topic, and the API's follower took it.
    proposal = wait_for(lambda: read_values(settings, settings.topic("agreements"), 10, 5),
                        30, "the proposal on its topic")  # fmt: skip
    assert SharingAgreement.decode(CODEC, proposal[-1]).proposed_by == "admin.a"
    wait_for(lambda: services.book.pending(f"{A}->{C}"), 10, "the proposal followed")
    assert [r["read_id"] for r in search(client, inv_c, plate="INT417").json()["reads"]] == [
        reads[2].read_id
    ]
    assert search(client, inv_c, plate="INT417", agencies=[A]).status_code == 403
    # The proposer cannot approve it (refused, audited); a supervisor of A can.
    own = client.post(f"/v1/agreements/{C}/approve", headers=people.login("admin.a"))
    assert own.status_code == 403
    made = client.post("/v1/people", headers=people.login("admin.a"), json={
        "username": "sup.a", "roles": [Role.SUPERVISOR.value], "password": PASSWORD,
    })  # fmt: skip
    people.enrol(made.json()["totp_uri"], "sup.a")
    approved = client.post(f"/v1/agreements/{C}/approve", headers=people.login("sup.a"))
    assert approved.status_code == 200, approved.text
    assert (approved.json()["approved_by"], approved.json()["proposed_by"]) == ("sup.a", "admin.a")
    steps = audit_events(settings, lambda e: e.action is AuditAction.AGREEMENT_CHANGE
                         and e.target_id == f"{A}->{C}" and e.actor == "sup.a")  # fmt: skip
    assert "approved the widening proposed by admin.a" in steps[0].details["change"]
    refused = audit_events(settings, lambda e: e.action is AuditAction.AGREEMENT_CHANGE
                           and e.outcome is AuditOutcome.DENIED)  # fmt: skip
    assert refused[0].actor == "admin.a" and "second person" in refused[0].details["reason"]
    wait_for(lambda: services.book.to_partner(C), 10, "the agreement followed")
    both = search(client, inv_c, plate="INT417").json()["reads"]
    assert [r["read_id"] for r in both] == [reads[2].read_id, reads[0].read_id]
    partial = search(client, inv_c, plate="INT41?").json()["reads"]
    assert {r["read_id"] for r in partial} == {r.read_id for r in reads}
    box = {"south": 44.97, "west": -93.27, "north": 44.99, "east": -93.25}
    assert [r["read_id"] for r in search(client, inv_c, box=box).json()["reads"]] == [
        reads[0].read_id
    ]
    shown = audit_events(settings, lambda e: e.actor == "inv.c" and e.details.get("ids")
                         == f"{reads[2].read_id},{reads[0].read_id}")  # fmt: skip
    assert shown[0].purpose == "criminal_investigation"

    # Excluding a purpose narrows the agreement: in force at once, no approver needed.
    narrowed = client.post("/v1/agreements", headers=people.login("admin.a"), json={
        "partner_agency_ori": C, "share_reads": True, "legal_basis": "JPA 2026-11",
        "excluded_purposes": ["criminal_investigation"],
    })  # fmt: skip
    assert narrowed.json()["status"] == "in_force", narrowed.text
    assert [r["read_id"] for r in search(client, inv_c, plate="INT417").json()["reads"]] == [
        reads[2].read_id
    ]
    assert len(search(client, inv_c, plate="INT417", purpose="stolen_vehicle").json()["reads"]) == 2

    revoked = client.delete(f"/v1/agreements/{C}", headers=people.login("admin.a"))
    assert revoked.status_code == 200
    assert [r["read_id"] for r in search(client, inv_c, plate="INT417").json()["reads"]] == [
        reads[2].read_id
    ]


def test_an_operator_cannot_search_and_an_investigator_cannot_load_hotlists(
    api: tuple[TestClient, People, Any],
) -> None:
    client, people, _ = api
    assert search(client, people.login("op.int"), plate="INT417").status_code == 403
    load = client.post("/v1/hotlists", headers=people.login("inv.a"),
                       json={"list_id": "x", "source": "y", "content": "plate\n"})  # fmt: skip
    assert load.status_code == 403


def test_every_route_refuses_a_call_without_credentials(
    api: tuple[TestClient, People, Any],
) -> None:
    client, _, _ = api
    for path, methods in client.get("/openapi.json").json()["paths"].items():
        if path in ("/health", "/readyz", "/v1/login") or path.startswith("/public/"):
            continue  # the public log of use needs no login (13.824 subd. 5)
        for method in methods:
            url = path.replace("{", "").replace("}", "")
            assert client.request(method, url).status_code == 401, (method, path)
    day = f"{utcnow():%Y-%m-%d}"
    public = client.get("/public/transparency", params={"agency": A, "from": day, "to": day,
                                                        "format": "csv"})  # fmt: skip
    assert public.status_code == 200, public.text
    assert any(row.startswith("total,reads,") for row in public.text.splitlines()), public.text


def test_a_password_someone_else_set_is_changed_before_anything_else(
    settings: Settings, api: tuple[TestClient, People, Any]
) -> None:
    client, people, _ = api
    people.login("inv.c")  # added by admin.c: its first login changed the password first
    refused = audit_events(settings, lambda e: e.actor == "inv.c"
                           and e.action is AuditAction.ACCESS_DENIED
                           and "password change due" in e.details.get("reason", ""))  # fmt: skip
    assert (refused[0].target_id, refused[0].outcome) == ("GET /v1/me", AuditOutcome.DENIED)
    ks = settings.cassandra_keyspace

    def due(username: str) -> bool:
        with CassandraStore(settings, create_schema=False) as store:
            row = store.session.execute(
                f"SELECT must_change_password FROM {ks}.people WHERE username = %s", (username,)
            ).one()
        return bool(row[0])

    assert not due("inv.c")
    made = client.post("/v1/people", headers=people.login("admin.c"), json={
        "username": "due.c", "roles": [Role.AUDITOR.value], "password": PASSWORD,
    })  # fmt: skip
    assert made.status_code == 200, made.text
    assert due("due.c")
    # A generated bootstrap password is due too; a chosen one (op.int's) is not.
    bootstrap_operator(settings, "op.once", "a generated one 123456", one_time=True)
    assert due("op.once") and not due("op.int")


def test_a_password_change_ends_the_persons_other_sessions_in_cassandra(
    settings: Settings, api: tuple[TestClient, People, Any]
) -> None:
    client, people, _ = api
    made = client.post("/v1/people", headers=people.login("admin.c"), json={
        "username": "two.c", "roles": [Role.INVESTIGATOR.value], "password": PASSWORD,
    })  # fmt: skip
    assert made.status_code == 200, made.text
    people.enrol(made.json()["totp_uri"], "two.c")
    totp = people.totp["two.c"]
    sessions = []
    for code in (totp.now(), totp.at(utcnow() + timedelta(seconds=30))):  # a code logs in once
        answer = client.post("/v1/login", json={"username": "two.c", "password": PASSWORD,
                                                "code": code})  # fmt: skip
        assert answer.status_code == 200, answer.text
        sessions.append({"Authorization": f"Bearer {answer.json()['token']}"})
    other, mine = sessions
    assert client.get("/v1/me", headers=other).status_code == 403  # both due for the change
    changed = client.post("/v1/me/password", headers=mine, json={
        "current_password": PASSWORD, "new_password": OWN_PASSWORD,
    })  # fmt: skip
    assert changed.status_code == 200, changed.text
    refused = client.get("/v1/me", headers=other)
    assert refused.status_code == 401, refused.text
    assert client.get("/v1/me", headers=mine).status_code == 200
    ended = audit_events(settings, lambda e: e.actor == "two.c"
                         and e.details.get("change", "").startswith("logout of every other"))  # fmt: skip
    assert (ended[0].target_id, ended[0].outcome) == ("two.c", AuditOutcome.SUCCESS)


def test_a_wrong_second_factor_is_refused(api: tuple[TestClient, People, Any]) -> None:
    client, people, _ = api
    right = people.totp["inv.a"].now()
    wrong = f"{(int(right) + 7) % 1_000_000:06d}"
    password = people.passwords.get("inv.a", PASSWORD)
    answer = client.post("/v1/login", json={"username": "inv.a", "password": password,
                                            "code": wrong})  # fmt: skip
    assert answer.status_code == 401


def test_only_the_api_role_reaches_the_identity_tables(
    settings: Settings, api: tuple[TestClient, People, Any]
) -> None:
    ks = settings.cassandra_keyspace
    for role, allowed in ((API_ROLE, True), (READER_ROLE, False), (WRITER_ROLE, False)):
        cluster, session = connect(settings.model_copy(update={"cassandra_username": role}))
        try:
            if allowed:
                assert session.execute(f"SELECT username FROM {ks}.people LIMIT 5").all()
            else:
                with pytest.raises(Unauthorized):
                    session.execute(f"SELECT password_hash FROM {ks}.people LIMIT 1")
                with pytest.raises(Unauthorized):
                    session.execute(f"SELECT * FROM {ks}.sessions LIMIT 1")
        finally:
            cluster.shutdown()


def test_lprx_api_serves_https_with_the_lprx_ca(
    settings: Settings, api: tuple[TestClient, People, Any], spawn: Any
) -> None:
    port = free_port()
    env = settings_env(settings) | {"LPRX_API_PORT": str(port),
                                    "LPRX_CACHE_DIR": str(settings.cache_dir)}  # fmt: skip
    server: Process = spawn(["api"], env)
    ca = str(settings.default_ca_file)

    def health() -> Any:
        try:
            return httpx.get(f"https://127.0.0.1:{port}/health", verify=ca, timeout=2).json()
        except httpx.HTTPError:
            return None if server.alive() else {"dead": server.output()}

    body = wait_for(health, 60, "lprx api over HTTPS")
    assert body.get("status") == "ok", body
    # Ready: the agreements read, and Kafka and Cassandra answering the API's principals.
    ready = httpx.get(f"https://127.0.0.1:{port}/readyz", verify=ca, timeout=10)
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
    # Plain HTTP is not served.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_lockout_and_session_lifetime_are_kept_by_cassandra(
    settings: Settings, api: tuple[TestClient, People, Any]
) -> None:
    client, people, services = api
    identity = services.auth.identity
    new = identity.add_person("lock.me", C, frozenset({Role.INVESTIGATOR}), PASSWORD, "test")
    people.enrol(new.totp_uri, "lock.me")
    for _ in range(5):
        answer = client.post("/v1/login", json={"username": "lock.me", "password": "wrong one!",
                                                "code": people.totp["lock.me"].now()})  # fmt: skip
        assert answer.status_code == 401
    right = {"username": "lock.me", "password": PASSWORD, "code": people.totp["lock.me"].now()}
    assert client.post("/v1/login", json=right).status_code == 401  # locked, even with the right
    locked = audit_events(settings, lambda e: e.target_id == "lock.me"
                          and "account locked" in e.details.get("change", ""))  # fmt: skip
    assert locked[0].outcome is AuditOutcome.DENIED
    # The sessions table keeps a session no longer than its absolute limit.
    ks = settings.cassandra_keyspace
    headers = people.login("inv.a")
    assert client.get("/v1/me", headers=headers).status_code == 200
    with CassandraStore(settings, create_schema=False) as store:
        ttls = [row[0] for row in store.session.execute(f"SELECT TTL(username) FROM {ks}.sessions")]
    assert ttls and all(0 < ttl <= 12 * 3600 + 1 for ttl in ttls)
