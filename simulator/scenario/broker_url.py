"""Broker URLs: ``mqtt[s]://[user[:password]@]host[:port]`` parsed into a :class:`BrokerAddress`.

Both the scenario schema and the command line take a broker URL, so the rules live here once:
the scheme is ``mqtt`` (plain TCP, default port 1883) or ``mqtts`` (TLS, default port 8883), a
host is required, the port is 1..65535, and credentials are written as users write them
(percent-encoded where needed). A user name or password may contain ``{device}``, filled in per
device (see :func:`simulator.scenario.credentials.render_credential`). Nothing else (path,
query, fragment) may follow, because nothing downstream would use it and silently dropping it
would hide a typo.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from simulator.errors import ScenarioError, ScenarioProblem

DEFAULT_PORT = 1883
"""The IANA port for unencrypted MQTT, used when an ``mqtt://`` URL names none."""

DEFAULT_TLS_PORT = 8883
"""The IANA port for MQTT over TLS, used when an ``mqtts://`` URL names none."""

SUPPORTED_SCHEMES = ("mqtt", "mqtts")
"""Schemes a broker URL may use."""

_PORT_MAX = 65535


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where to reach a broker: the parsed form of a broker URL."""

    host: str
    """Host name or IP address, without IPv6 brackets."""
    port: int
    """TCP port, 1..65535."""
    scheme: str
    """URL scheme; ``mqtt`` for plain TCP, ``mqtts`` for TLS."""
    username: str | None = None
    """User name from the URL (percent-decoded), possibly with ``{device}`` in it."""
    password: str | None = None
    """Password from the URL (percent-decoded), possibly with ``{device}`` in it."""

    @property
    def tls(self) -> bool:
        """Whether connections use TLS."""
        return self.scheme == "mqtts"

    def url(self, *, with_password: bool = False) -> str:
        """The URL again, with the password masked unless asked for."""
        auth = ""
        if self.username is not None:
            auth = quote(self.username, safe="{}")
            if self.password is not None:
                auth += ":" + (quote(self.password, safe="{}") if with_password else "***")
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{auth}{host}:{self.port}"


def broker_url_problem(url: str) -> str | None:
    """Say what is wrong with ``url`` as a broker URL, or return ``None`` if it is fine.

    The message states what is allowed and what was given, ready for a
    :class:`~simulator.errors.ScenarioProblem`.
    """
    parsed = _parse(url)
    return parsed if isinstance(parsed, str) else None


def parse_broker_url(url: str, source: str = "<command line>") -> BrokerAddress:
    """Parse ``mqtt[s]://[user[:password]@]host[:port]`` into a :class:`BrokerAddress`.

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
    expected = f"expected mqtt://host[:port] or mqtts://host[:port], got {_masked(url)!r}"
    if "://" not in url:
        return f"not a URL: {expected}"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        return f"not a valid URL ({exc}): {expected}"
    scheme = parts.scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        return f"scheme must be mqtt or mqtts, got {parts.scheme!r} in {_masked(url)!r}"
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username == "":
        return f"a password needs a user name before it: {expected}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"no path, query or fragment allowed: {expected}"
    host = parts.hostname
    if not host:
        return f"host is required: {expected}"
    default = DEFAULT_TLS_PORT if scheme == "mqtts" else DEFAULT_PORT
    port = _port(parts.netloc.rsplit("@", 1)[-1], _masked(url), default)
    if isinstance(port, str):
        return port
    return BrokerAddress(host, port, scheme, username, password)


def _masked(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages."""
    head, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, _, tail = rest.rpartition("@")
    user, colon, _ = auth.partition(":")
    return f"{head}://{user}{':***' if colon else ''}@{tail}"


def _port(netloc: str, url: str, default: int) -> int | str:
    # urlsplit().port raises or returns 0 on odd input with a message naming neither the URL nor
    # the allowed range, so the port text is read directly from the netloc.
    host_port = netloc.rsplit("]", 1)[-1] if netloc.startswith("[") else netloc
    if ":" not in host_port:
        return default
    text = host_port.rsplit(":", 1)[1]
    if not text.isascii() or not text.isdigit():
        return f"port must be an integer 1..{_PORT_MAX}, got {text!r} in {url!r}"
    port = int(text)
    if not 1 <= port <= _PORT_MAX:
        return f"port must be 1..{_PORT_MAX}, got {port} in {url!r}"
    return port
