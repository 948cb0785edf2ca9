"""Local Apache Kafka (KRaft, one node) and Apache Cassandra 5.0 for development and tests,
and, when named (``up(settings, ["keycloak"])``), Keycloak as an agency identity provider.

The jars come from Maven Central (no Docker needed); each server runs as a detached JVM
with its jars, config, data, logs and pid file under ``settings.servers_dir``::

    from connectors.servers import up, status, down
    up(settings)        # fetch once, start, wait until both answer a real client
    status(settings)    # [ServerStatus(name, version, pid, port, port_open, ready, log)]
    down(settings)      # SIGTERM, then SIGKILL after a grace period
"""

from connectors.servers.base import ServerError, ServerStatus
from connectors.servers.manager import SERVICES, Progress, down, fetch, status, up

__all__ = ["SERVICES", "Progress", "ServerError", "ServerStatus", "down", "fetch", "status", "up"]
