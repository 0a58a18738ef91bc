"""Broker URLs: ``mqtt://host[:port]`` parsed into a :class:`BrokerAddress`.

Both the scenario schema and the command line take a broker URL, so the rules live here once:
the scheme must be ``mqtt`` (``mqtts`` is recognised but not supported yet), a host is required,
the port is 1..65535 and defaults to 1883, and nothing else (credentials, path, query,
fragment) may follow, because nothing downstream would use it and silently dropping it would
hide a typo.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from simulator.errors import ScenarioError, ScenarioProblem

DEFAULT_PORT = 1883
"""The IANA port for unencrypted MQTT, used when the URL names none."""

SUPPORTED_SCHEMES = ("mqtt",)
"""Schemes a broker URL may use today."""

_PLANNED_SCHEMES = ("mqtts",)
_PORT_MAX = 65535


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where to reach a broker: the parsed form of a broker URL."""

    host: str
    """Host name or IP address, without IPv6 brackets."""
    port: int
    """TCP port, 1..65535."""
    scheme: str
    """URL scheme; ``mqtt`` for plain TCP."""


def broker_url_problem(url: str) -> str | None:
    """Say what is wrong with ``url`` as a broker URL, or return ``None`` if it is fine.

    The message states what is allowed and what was given, ready for a
    :class:`~simulator.errors.ScenarioProblem`.
    """
    parsed = _parse(url)
    return parsed if isinstance(parsed, str) else None


def parse_broker_url(url: str, source: str = "<command line>") -> BrokerAddress:
    """Parse ``mqtt://host[:port]`` into a :class:`BrokerAddress`.

    ``source`` names where the URL came from (a file or a command-line flag) for the error.

    Raises:
        ScenarioError: with one problem at path ``broker.url`` saying what is wrong.
    """
    parsed = _parse(url)
    if isinstance(parsed, str):
        raise ScenarioError([ScenarioProblem(source, "broker.url", parsed)])
    return parsed


def _parse(url: str) -> BrokerAddress | str:
    """Return the address, or a message saying what is wrong."""
    expected = f"expected mqtt://host[:port], got {url!r}"
    if "://" not in url:
        return f"not a URL: {expected}"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        return f"not a valid URL ({exc}): {expected}"
    scheme = parts.scheme.lower()
    if scheme in _PLANNED_SCHEMES:
        return f"scheme {scheme!r} is not supported yet; use mqtt, got {url!r}"
    if scheme not in SUPPORTED_SCHEMES:
        return f"scheme must be mqtt, got {parts.scheme!r} in {url!r}"
    if parts.username is not None or parts.password is not None:
        return f"credentials in the URL are not supported: {expected}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"no path, query or fragment allowed: {expected}"
    host = parts.hostname
    if not host:
        return f"host is required: {expected}"
    port = _port(parts.netloc, url)
    if isinstance(port, str):
        return port
    return BrokerAddress(host=host, port=port, scheme=scheme)


def _port(netloc: str, url: str) -> int | str:
    # urlsplit().port raises or returns 0 on odd input with a message naming neither the URL nor
    # the allowed range, so the port text is read directly from the netloc.
    host_port = netloc.rsplit("]", 1)[-1] if netloc.startswith("[") else netloc
    if ":" not in host_port:
        return DEFAULT_PORT
    text = host_port.rsplit(":", 1)[1]
    if not text.isascii() or not text.isdigit():
        return f"port must be an integer 1..{_PORT_MAX}, got {text!r} in {url!r}"
    port = int(text)
    if not 1 <= port <= _PORT_MAX:
        return f"port must be 1..{_PORT_MAX}, got {port} in {url!r}"
    return port
