"""Driver errors reach callers as ``schemas.errors``, against the real Cassandra 5 node.

The shared Cassandra is never stopped: a store is cut off from it by shutting down the
store's own cluster, or by stopping a TCP relay the store connects through.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from connectors.cassandra import CassandraStore, StoreRejected, map_exceptions
from pipelines.settings import Settings
from schemas.errors import ConfigurationError, PermanentError, StoreUnavailable, TransientError
from schemas.records import (
    AuditAction,
    AuditEvent,
    Disposition,
    HitDisposition,
    PlateCrop,
    new_id,
    utcnow,
)
from tests.conftest import free_port, unique_settings, wait_for
from tests.factories import a_hit, a_read

DAY = timedelta(days=1)


class Relay:
    """A TCP relay from a local port to Cassandra: stopping it is Cassandra going away
    for the stores connected through it, and only for them."""

    def __init__(self, target: tuple[str, int], port: int) -> None:
        self.target, self.port = target, port
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Closes the listener and every relayed connection, as a dead node would."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            if self._listener is not None:
                sockets.append(self._listener)
                self._listener = None
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            server = socket.create_connection(self.target)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture(scope="module")
def settings(servers: Settings) -> Iterator[Settings]:
    settings = unique_settings(servers)
    with CassandraStore(settings) as store:  # makes the keyspace, for the module's stores
        yield settings
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


@pytest.fixture
def relay(servers: Settings) -> Iterator[Relay]:
    relay = Relay((servers.cassandra_contact_points[0], servers.cassandra_port), free_port())
    relay.start()
    yield relay
    relay.stop()


def a_disposition() -> HitDisposition:
    now = utcnow()
    return HitDisposition(new_id(), "MN9990001", now, Disposition.CORRECT, "jdoe", "MN9990001", now)


def an_event() -> AuditEvent:
    return AuditEvent(new_id(), utcnow(), "jdoe", AuditAction.SEARCH, "query", "plate=X")


def test_a_statement_on_a_missing_table_is_a_permanent_error(settings: Settings) -> None:
    with CassandraStore(settings, create_schema=False) as store:
        with pytest.raises(StoreRejected, match="nope") as raised, map_exceptions("read"):
            store.session.execute(f"SELECT * FROM {store.keyspace}.nope")
        assert isinstance(raised.value, PermanentError)
        assert type(raised.value.__cause__).__name__ == "InvalidRequest"
        with pytest.raises(StoreRejected, match="SyntaxException"), map_exceptions("read"):
            store.session.execute("SELEC nothing")


def test_a_store_on_a_keyspace_never_made_is_refused(servers: Settings) -> None:
    with pytest.raises(StoreRejected, match="does not exist"):
        CassandraStore(unique_settings(servers), create_schema=False)


def test_a_table_dropped_under_a_store_is_a_permanent_error(servers: Settings) -> None:
    settings = unique_settings(servers)
    with CassandraStore(settings) as store:
        try:
            now = utcnow()
            crop = PlateCrop(new_id(), "MN9990001", "cam-1", now, now + DAY, b"jpeg")
            assert store.write_crops([crop], now)[0].ok
            store.session.execute(f"DROP TABLE {store.keyspace}.plate_crops")
            with pytest.raises(StoreRejected):
                store.plate_crop(crop.read_id)
            # A write the server refuses fails its row, and does not raise.
            (outcome,) = store.write_crops([crop], now)
            assert not outcome.ok and not outcome.expired
            assert outcome.error is not None and "plate_crops" in outcome.error
        finally:
            store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def test_a_row_cassandra_refuses_fails_alone(settings: Settings) -> None:
    now = utcnow()
    with CassandraStore(settings, create_schema=False) as store:
        good = a_read(plate="ROW0001", collected_at=now, expires_at=now + DAY)
        # A partition key over 64 KiB: Cassandra refuses the row, not the batch.
        huge = a_read(plate="H" * 70_000, collected_at=now, expires_at=now + DAY)
        outcomes = store.write_reads([good, huge], now)
        assert outcomes[0].ok
        assert not outcomes[1].ok and not outcomes[1].expired
        assert outcomes[1].error is not None and outcomes[1].error.startswith("InvalidRequest")
        assert [r.read_id for r in store.stored_reads("ROW0001")] == [good.read_id]


def test_every_call_of_a_shut_down_store_is_transient(settings: Settings) -> None:
    store = CassandraStore(settings, create_schema=False)
    store.close()
    now = utcnow()
    read = a_read(collected_at=now, expires_at=now + DAY)
    calls: dict[str, Callable[[], object]] = {
        "write_reads": lambda: store.write_reads([read], now),
        "write_hits": lambda: store.write_hits([a_hit(read=read, matched_at=now)], now),
        "write_crops": lambda: store.write_crops(
            [PlateCrop(new_id(), "MN9990001", "cam-1", now, now + DAY, b"jpeg")], now
        ),
        "write_audit": lambda: store.write_audit([an_event()]),
        "write_disposition": lambda: store.write_disposition(a_disposition(), 60),
        "mark_entry_checked": lambda: store.mark_entry_checked("e", "X", now),
        "forget_entry_check": lambda: store.forget_entry_check("e"),
        "entry_checked": lambda: store.entry_checked("e", "X"),
        "stored_reads": lambda: store.stored_reads("ABC123"),
        "stored_reads_like": lambda: store.stored_reads_like("ABC123"),
        "reads_for_plate": lambda: store.reads_for_plate("ABC123"),
        "plate_crop": lambda: store.plate_crop("r"),
        "find_hit": lambda: store.find_hit("h"),
        "hit_category": lambda: store.hit_category(a_disposition()),
        "hits_for_agency": lambda: store.hits_for_agency("MN9990001"),
        "audit_events": lambda: store.audit_events("2026-01-01"),
        "count": lambda: store.count("reads_by_plate"),
    }
    for name, call in calls.items():
        with pytest.raises(StoreUnavailable, match="NoHostAvailable") as raised:
            call()
        assert isinstance(raised.value, TransientError), name


def test_an_unreachable_cassandra_at_start_is_the_operators_to_fix(servers: Settings) -> None:
    settings = unique_settings(servers, cassandra_port=free_port())
    with pytest.raises(ConfigurationError, match="did not answer") as raised:
        CassandraStore(settings)
    assert isinstance(raised.value.__cause__, StoreUnavailable)


def test_cassandra_going_away_is_transient_and_coming_back_heals(
    settings: Settings, relay: Relay
) -> None:
    through_relay = settings.model_copy(update={"cassandra_port": relay.port})
    with CassandraStore(through_relay, create_schema=False) as store:
        now = utcnow()
        first = a_read(plate="GONE001", collected_at=now, expires_at=now + DAY)
        assert store.write_reads([first], now)[0].ok
        relay.stop()
        later = a_read(plate="GONE001", collected_at=now, expires_at=now + DAY)
        with pytest.raises(StoreUnavailable):
            store.write_reads([later], now)
        with pytest.raises(StoreUnavailable):
            store.stored_reads("GONE001")
        relay.start()

        def written() -> bool:
            try:
                return store.write_reads([later], utcnow())[0].ok
            except StoreUnavailable:
                return False

        wait_for(written, 60, "the store to write again once Cassandra is back")
        assert {r.read_id for r in store.stored_reads("GONE001")} == {
            first.read_id,
            later.read_id,
        }
