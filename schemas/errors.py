"""The exception tree of lprx.

    LprxError
    ├── PermanentError        the record itself is bad: dead-letter it, go on
    │   ├── InvalidRecord     decodes, but breaks a rule (empty plate, future time, ...)
    │   ├── UndecodableRecord not a record of the expected schema
    │   └── StoreRejected     the store refused the statement itself (will fail again)
    ├── TransientError        the world is briefly wrong: retry, back off
    │   ├── StoreUnavailable  Cassandra did not take a write in time
    │   └── SendUnacknowledged Kafka did not acknowledge a record state waits on
    ├── RequestRefused        a person's request is refused: say why, show nothing
    │   ├── AccessDenied      no documented purpose (the attempt itself is audited)
    │   └── NotFound          what the request names is not held (expired or unknown)
    └── ConfigurationError    the operator must fix something before lprx can run

Driver exceptions (confluent-kafka, cassandra-driver, OpenCV, Paddle) are mapped to these
at the connector boundary, so stages only ever see this tree.
"""

from __future__ import annotations


class LprxError(Exception):
    """Base of every error lprx raises on purpose."""


class PermanentError(LprxError):
    """Retrying will not help: the record goes to the dead-letter topic."""


class InvalidRecord(PermanentError):
    """A record that decodes but breaks a rule of the stage."""


class UndecodableRecord(PermanentError):
    """Bytes that are not a record of the expected schema."""


class StoreRejected(PermanentError):
    """The store refused the statement itself: the same statement will fail again."""


class TransientError(LprxError):
    """Retrying later may succeed."""


class StoreUnavailable(TransientError):
    """The store did not accept a write in time."""


class SendUnacknowledged(TransientError):
    """Kafka did not acknowledge a record that state may only record once it is sent."""


class RequestRefused(LprxError):
    """A person's request (CLI, API) that lprx will not carry out, with the reason."""


class AccessDenied(RequestRefused):
    """The request may not see the data it asks for."""


class NotFound(RequestRefused):
    """The request names something lprx does not hold (expired, or never known)."""


class ConfigurationError(LprxError):
    """Something the operator must fix (a missing server, a bad setting)."""
