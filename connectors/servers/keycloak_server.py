"""A local Keycloak: an agency's own OpenID Connect provider, for tests and the demo.

The server distribution (``keycloak-quarkus-dist``, a zip on Maven Central) is unpacked
into ``lib/``, built once for what lprx runs (``kc.sh build``: the embedded file database,
local caches only, so no cluster port is opened) and started in production mode over
HTTPS only, on loopback, with a certificate of the lprx CA. Its first administrator,
``lprx-admin``, gets a generated password (0600 in the secrets folder) that reaches
Keycloak through the environment, never argv. Realms, clients and people are made
through the admin REST API (connectors/identity/keycloak.py).

The database (H2, one file) lives in ``data/``, so it outlives a fetch of another
version; ``kc.sh build`` writes its result into the unpacked distribution in ``lib/``.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import zipfile
from pathlib import Path

import httpx
from pydantic import SecretStr

from connectors.security.files import ensure_password
from connectors.security.pki import ensure_ca, ensure_keystore
from connectors.servers.base import Server, ServerError, find_java

ADMIN_USER = "lprx-admin"
# Build-time options (kc.sh build): the file database, caches in this JVM only (no
# JGroups cluster listening on the machine's addresses).
BUILD_OPTIONS = ("--db=dev-file", "--cache=local")


def admin_password_file(secrets_dir: Path) -> Path:
    return secrets_dir / "keycloak" / f"{ADMIN_USER}.password"


class KeycloakServer(Server):
    name = "keycloak"
    pom = "keycloak-pom.xml"
    log_name = "keycloak.log"
    java_range = (17, None)  # Keycloak 26 runs on OpenJDK 17, 21 and 25
    # The first start after a build creates the database schema and the master realm:
    # about 60-150 s on two busy cores.
    start_timeout = 420.0
    stop_timeout = 30.0
    fetched_glob = "*.zip"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def ports(self) -> list[int]:
        return [self.settings.keycloak_port]

    @property
    def url(self) -> str:
        """The base URL; a realm's issuer is ``<url>/realms/<realm>``."""
        return f"https://{self.host}:{self.ports[0]}"

    @property
    def dist(self) -> Path:
        return self.lib / f"keycloak-{self.version}"

    @property
    def keystore(self) -> Path:
        return self.settings.tls_dir / "keycloak.pem"

    @property
    def ca_file(self) -> Path:
        return self.settings.tls_dir / "ca.pem"

    def admin_password(self) -> SecretStr:
        return ensure_password(admin_password_file(self.settings.secrets_dir))

    def unpack(self, fetched: Path) -> None:
        for archive in fetched.glob(self.fetched_glob):
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(fetched)
            archive.unlink()
        if not (fetched / self.dist.name / "bin" / "kc.sh").is_file():
            raise ServerError(f"The Keycloak zip did not hold {self.dist.name}/bin/kc.sh.")

    def configure(self) -> None:
        ca = ensure_ca(self.settings.tls_dir)
        # One PEM holds the key and the chain; Keycloak reads it as both files.
        ensure_keystore(ca, self.keystore, "keycloak", [self.host])
        self.admin_password()

    def _kc(self, *args: str) -> list[str]:
        # kc.sh takes the JVM from $JAVA (environment()); its -D arguments reach the JVM,
        # so the tag marks both the script and the JVM it runs as this server.
        return ["/bin/sh", str(self.dist / "bin" / "kc.sh"), self.tag, *args]

    def environment(self) -> dict[str, str]:
        return {
            "JAVA": find_java(),
            "JAVA_OPTS_KC_HEAP": f"-Xms64m -Xmx{self.settings.keycloak_heap}",
            "JAVA_OPTS_APPEND": f"-XX:ErrorFile={self.logs / 'hs_err_pid%p.log'}",
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password().get_secret_value(),
        }

    def prepare(self, java: str) -> None:
        # `kc.sh build` fixes the build-time options into the distribution (about 30-60
        # s); it runs again only when they or the version change.
        marker = self.dist / "lprx.build"
        wanted = " ".join(BUILD_OPTIONS) + "\n"
        if marker.exists() and marker.read_text() == wanted:
            return
        env = {**os.environ, **self.environment()}
        env.pop("KC_BOOTSTRAP_ADMIN_PASSWORD")  # the build needs no administrator
        try:
            out = subprocess.run(  # noqa: S603 (our own sh, script and options)
                self._kc("build", *BUILD_OPTIONS),
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ServerError(f"Could not build Keycloak: {e}.") from e
        if out.returncode != 0:
            last = "\n".join((out.stdout + out.stderr).splitlines()[-20:])
            raise ServerError(f"`kc.sh build` failed (exit {out.returncode}):\n{last}")
        marker.write_text(wanted)

    def command(self, java: str) -> list[str]:
        del java  # the same JVM reaches kc.sh as $JAVA
        return self._kc(
            "start",
            "--optimized",
            "--http-enabled=false",
            "--cache=local",  # a start option too: without it JGroups listens on the LAN
            # The database in data/ (kept across restarts and fetches), not in lib/.
            f"--db-url=jdbc:h2:file:{self.data / 'keycloakdb'};NON_KEYWORDS=VALUE",
            f"--http-host={self.host}",
            f"--https-port={self.ports[0]}",
            f"--hostname={self.url}",
            f"--https-certificate-file={self.keystore}",
            f"--https-certificate-key-file={self.keystore}",
            "--log=console,file",
            f"--log-file={self.log_file}",
        )

    def check_ready(self, timeout: float) -> bool:
        try:
            response = httpx.get(
                f"{self.url}/realms/master/.well-known/openid-configuration",
                verify=ssl.create_default_context(cafile=str(self.ca_file)),
                timeout=timeout,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200
