"""A local Mosquitto with the secure profile: passwords, per-device ACLs, TLS and mutual TLS.

Three loopback listeners, all authenticated (``broker_config/secure/mosquitto.conf``):

- ``port``: plain MQTT with a user name and password (the ingest worker, TLS-free load runs);
- ``tls_port``: TLS with the PKI's server certificate, then a user name and password;
- ``mtls_port``: TLS with a client certificate required; its common name is the user name.

The ACL (``broker_config/secure/acl``) lets each user read and write only
``factory/+/+/<user>/#``, the user :data:`INGEST_USER` read ``factory/#`` (shared
subscriptions included) and :data:`FLEET_USER`, the CN of a certificate a whole load fleet
shares, write anywhere under ``factory/``::

    pki = make_pki(tmp / "pki", clients=["ms-000001"])
    with SecureBroker(pki, users={"ms-000002": "pw", INGEST_USER: "ingest-pw"}) as broker:
        connect(broker.tls_url, ca=broker.ca_path, ...)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from simulator.broker.launcher import LocalBroker, hand_to_broker_user
from simulator.broker.passwords import DEFAULT_ITERATIONS, write_password_file
from simulator.broker.pki import Pki
from simulator.broker.runtime_config import (
    ACL_NAME,
    BASE_CONFIG_NAME,
    SECURE_PROFILE_DIR,
    read_config_file,
    render_secure_config,
)
from simulator.errors import BrokerLaunchError

INGEST_USER = "ingest"
"""The user the ACL lets read the whole plant (``factory/#``) and write nothing."""

FLEET_USER = "fleet"
"""The user (certificate CN) the ACL lets write anywhere under ``factory/``: one identity
that a load fleet shares instead of a certificate per device."""


class SecureBroker(LocalBroker):
    """A Mosquitto child process with the secure profile, on three free loopback ports.

    ``users`` maps user names to passwords for the plain and TLS listeners; clients on the
    mutual-TLS listener need a certificate from ``pki`` instead. The password file, the ACL
    copy and the runtime config live in the broker's private directory and go with
    :meth:`stop`; the PKI's files stay where :func:`~simulator.broker.make_pki` put them.
    """

    def __init__(
        self,
        pki: Pki,
        users: Mapping[str, str] | None = None,
        *,
        config_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls_port: int | None = None,
        mtls_port: int | None = None,
        password_iterations: int = DEFAULT_ITERATIONS,
    ) -> None:
        super().__init__(config_dir=config_dir, host=host, port=port)
        self._pki = pki
        self._users = dict(users or {})
        self._requested_tls = (tls_port, mtls_port)
        self._iterations = password_iterations
        self._template_text = ""
        self._template_path = Path()
        self._acl_path = Path()

    @property
    def tls_port(self) -> int:
        """The TLS listener's port (server certificate, user name and password)."""
        return self._started_ports()[1]

    @property
    def mtls_port(self) -> int:
        """The mutual-TLS listener's port (client certificate required, CN is the user)."""
        return self._started_ports()[2]

    @property
    def tls_url(self) -> str:
        """``mqtts://host:tls_port``."""
        return self._url("mqtts", self.tls_port)

    @property
    def mtls_url(self) -> str:
        """``mqtts://host:mtls_port``."""
        return self._url("mqtts", self.mtls_port)

    @property
    def ca_path(self) -> Path:
        """The CA certificate clients check the broker's certificate with."""
        return self._pki.ca_path

    @property
    def pki(self) -> Pki:
        """The certificates this broker serves and accepts."""
        return self._pki

    def _requested_ports(self) -> tuple[int | None, ...]:
        return (self._requested_port, *self._requested_tls)

    def _load_config(self, config_dir: Path) -> None:
        super()._load_config(config_dir)
        self._template_path = config_dir / SECURE_PROFILE_DIR / BASE_CONFIG_NAME
        self._template_text = read_config_file(self._template_path)
        self._acl_path = config_dir / SECURE_PROFILE_DIR / ACL_NAME
        if not self._acl_path.is_file():
            raise BrokerLaunchError(f"cannot read the ACL file {self._acl_path}")

    def _render_config(self, workdir: Path, ports: tuple[int, ...]) -> str:
        password_file = workdir / "passwords"
        write_password_file(password_file, self._users, self._iterations)
        # Copies, not the originals: the broker reads them after dropping root, and the PKI
        # may sit in a directory only its owner can enter.
        copies = {
            "acl_file": (self._acl_path, workdir / ACL_NAME),
            "ca_file": (self._pki.ca.cert, workdir / "ca.pem"),
            "server_cert": (self._pki.server.cert, workdir / "server.pem"),
            "server_key": (self._pki.server.key, workdir / "server.key"),
        }
        for source, copy in copies.values():
            try:
                shutil.copyfile(source, copy)
            except OSError as exc:
                raise BrokerLaunchError(f"cannot copy {source} for the broker: {exc}") from exc
        os.chmod(workdir / "server.key", 0o600)
        hand_to_broker_user([workdir, password_file, *(copy for _, copy in copies.values())])
        values = {
            "host": self._host,
            "port": str(ports[0]),
            "tls_port": str(ports[1]),
            "mtls_port": str(ports[2]),
            "password_file": str(password_file),
            **{name: str(copy) for name, (_, copy) in copies.items()},
        }
        return render_secure_config(
            self._template_text,
            self._base_text,
            values,
            str(self._template_path),
            str(self._base_path),
        )
