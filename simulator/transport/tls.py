"""TLS for broker connections: one client context per fleet, or one per connection.

An ``ssl.SSLContext`` holds the trust store and the client certificate; each connection then
costs only its own TLS session. A fleet that shares one client certificate (or none) therefore
shares one context. A fleet whose devices each present their own certificate names it with a
``{device}`` template (``certs/{device}.pem``, ``{device}`` being the connection's client id, as
in a broker URL's credentials): Python can set a client certificate only on a context, so
:func:`context_source` then returns a function that builds each connection's context as it
connects; the connection's ``SSLObject`` keeps it, and nothing else does.

Server-name checking is on by default, because a load tool that silently accepts any
certificate would test a different system from the one devices connect to.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from simulator.errors import MissingClientFilesError, TlsConfigError
from simulator.transport.credentials import PLACEHOLDER

ContextSource = ssl.SSLContext | Callable[[str], ssl.SSLContext]
"""One context every connection shares, or a function from a client id to its own context."""

_ANY_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How to set up TLS: trust, client certificate, and whether to check the server's name."""

    ca_file: Path | None = None
    """PEM file with the CA(s) to trust; None uses the system's trust store."""
    cert_file: Path | None = None
    """PEM client certificate for mutual TLS (with ``key_file``); None for server-only TLS.
    ``{device}`` in the path makes it a template: each connection's client id is put in."""
    key_file: Path | None = None
    """PEM private key of ``cert_file``; None if the key is inside ``cert_file``. May hold
    ``{device}`` only when ``cert_file`` does (one key cannot match one shared certificate
    per connection)."""
    verify: bool = True
    """Check the server's certificate chain and name. Turning it off is for lab brokers only."""

    @property
    def per_connection(self) -> bool:
        """Whether each connection presents its own certificate (the paths are templates)."""
        return self.cert_file is not None and PLACEHOLDER in str(self.cert_file)

    def for_client(self, client_id: str) -> TlsOptions:
        """These options with ``{device}`` in the certificate and key paths set to ``client_id``."""
        if not self.per_connection:
            return self
        return replace(
            self,
            cert_file=_render(self.cert_file, client_id),
            key_file=_render(self.key_file, client_id),
        )


def _render(path: Path | None, client_id: str) -> Path | None:
    return None if path is None else Path(str(path).replace(PLACEHOLDER, client_id))


def check_templates(options: TlsOptions) -> None:
    """Raise :class:`TlsConfigError` for a certificate or key path no connection could use."""
    for label, path in (
        ("client certificate", options.cert_file),
        ("client key", options.key_file),
    ):
        if path is None:
            continue
        unknown = [p for p in _ANY_PLACEHOLDER.findall(str(path)) if p != PLACEHOLDER]
        if unknown:
            raise TlsConfigError(
                f"the {label} path {path} has {unknown[0]}: the only placeholder is "
                f"{PLACEHOLDER} (the connection's client id)"
            )
    key = options.key_file
    if key is not None and PLACEHOLDER in str(key) and not options.per_connection:
        raise TlsConfigError(
            f"the client key {options.key_file} is per connection but the certificate "
            f"{options.cert_file} is not: put {PLACEHOLDER} in both"
        )


def check_client_files(options: TlsOptions, client_ids: Iterable[str]) -> None:
    """Check that every connection's certificate and key exist, before any connects.

    Raises :class:`MissingClientFilesError` naming the first missing file and how many are
    missing, so a fleet with absent certificates fails at once instead of device by device.
    A shared certificate is checked once; ``client_ids`` is read only for templates.
    """
    check_templates(options)
    if options.cert_file is None:
        return
    ids = client_ids if options.per_connection else ("",)
    first: Path | None = None
    missing = checked = 0
    for client_id in ids:
        rendered = options.for_client(client_id)
        for path in (rendered.cert_file, rendered.key_file):
            if path is None:
                continue
            checked += 1
            if not os.path.isfile(path):
                missing += 1
                if first is None:
                    first = path
    if first is not None:
        what = "client certificate and key files" if options.key_file else "client certificates"
        template = options.cert_file if options.per_connection else None
        raise MissingClientFilesError(
            f"{missing:,} of {checked:,} {what} are missing, the first: {first}"
            + (f" (from the template {template})" if template is not None else ""),
            first,
            missing,
        )


def client_context(options: TlsOptions) -> ssl.SSLContext:
    """Build the client context for ``options``; bad files raise :class:`TlsConfigError`."""
    # With a CA file, trust that file alone: loading the system store as well would cost
    # every per-connection context its whole trust store, and trust more than was asked.
    cafile = str(options.ca_file) if options.ca_file is not None else None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load the CA file {options.ca_file}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
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


def context_source(options: TlsOptions) -> ContextSource:
    """The shared context, or for per-connection certificates a builder called per client id.

    Raises :class:`TlsConfigError` at once for a bad template, or for a CA file that cannot be
    loaded (tried once here rather than failing every connection later).
    """
    check_templates(options)
    if not options.per_connection:
        return client_context(options)
    client_context(replace(options, cert_file=None, key_file=None))
    return partial(_context_for, options)


def _context_for(options: TlsOptions, client_id: str) -> ssl.SSLContext:
    return client_context(options.for_client(client_id))
