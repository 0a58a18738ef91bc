"""TLS for broker connections: one client context per fleet, shared by every connection.

An ``ssl.SSLContext`` holds the trust store and the client certificate once; each connection
then costs only its own TLS session. Server-name checking is on by default, because a load tool
that silently accepts any certificate would test a different system from the one devices
connect to.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from simulator.errors import ConnectError


class TlsConfigError(ConnectError):
    """A TLS file could not be read or does not fit (names the file and what is wrong)."""


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How to set up TLS: trust, client certificate, and whether to check the server's name."""

    ca_file: Path | None = None
    """PEM file with the CA(s) to trust; None uses the system's trust store."""
    cert_file: Path | None = None
    """PEM client certificate for mutual TLS (with ``key_file``); None for server-only TLS."""
    key_file: Path | None = None
    """PEM private key of ``cert_file``; None if the key is inside ``cert_file``."""
    verify: bool = True
    """Check the server's certificate chain and name. Turning it off is for lab brokers only."""


def client_context(options: TlsOptions) -> ssl.SSLContext:
    """Build the client context for ``options``; bad files raise :class:`TlsConfigError`."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(options.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(f"cannot load the CA file {options.ca_file}: {exc}") from exc
    if options.cert_file is not None:
        try:
            context.load_cert_chain(
                str(options.cert_file), str(options.key_file) if options.key_file else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(
                f"cannot load the client certificate {options.cert_file}"
                f"{f' with key {options.key_file}' if options.key_file else ''}: {exc}"
            ) from exc
    elif options.key_file is not None:
        raise TlsConfigError(f"a client key ({options.key_file}) needs a client certificate too")
    if not options.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
