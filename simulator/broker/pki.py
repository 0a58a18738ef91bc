"""A throwaway certificate authority for TLS tests and local runs.

:func:`make_pki` writes, as PEM files in one directory, a CA, a server certificate whose
subject alternative names are the given IP addresses and DNS names, and one client
certificate per name with that name as its common name (the secure broker profile maps the
CN to the MQTT user name). Keys are EC P-256: each certificate costs one ``openssl`` call of
about 5-15 ms. :func:`write_device_certs` writes a certificate per device for a whole fleet,
named by device id so that ``--client-cert certs/{device}.pem`` finds them, with several
``openssl`` processes at once.

The ``openssl`` command line is used rather than the ``cryptography`` package: it ships with
every system that has Mosquitto, and the project then needs no extra dependency for a file
that only tests and local runs create. Nothing here is ever committed: the files are made at
run or test time, valid for a few days.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.errors import PkiError

DEFAULT_SERVER_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost")
"""The names a local broker is reached by: its loopback address and ``localhost``."""

CA_NAME = "factory-sim test CA"
"""Common name of the generated CA (it says what the certificate is for)."""

# A common name goes into `openssl -subj /CN=...`, where '/', '+', '=' and '\' are syntax,
# and becomes an MQTT user name that ACL patterns substitute into topics, where '+', '#' and
# '/' are wildcards or separators. Device ids never need any of them.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_OPENSSL_TIMEOUT_S = 30.0
_LEAF = ("basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature")
_CLIENT = (*_LEAF, "extendedKeyUsage=clientAuth")

DEVICE_PLACEHOLDER = "{device}"
"""Where the device id goes in the paths :func:`write_device_certs` returns (the same
placeholder as in the simulator's ``--client-cert`` and broker URL templates)."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A PEM certificate and the PEM file of its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class Pki:
    """The files :func:`make_pki` wrote."""

    directory: Path
    """Where every file lives."""
    ca: KeyPair
    """The CA; clients trust ``ca.cert``, and its key signed everything else."""
    server: KeyPair
    """The broker's certificate, valid for ``server_names``."""
    server_names: tuple[str, ...]
    """IP addresses and DNS names in the server certificate."""
    clients: Mapping[str, KeyPair]
    """Client certificates by common name."""

    @property
    def ca_path(self) -> Path:
        """The CA certificate, the one file a client needs to check the broker."""
        return self.ca.cert

    def client(self, name: str) -> KeyPair:
        """The client certificate whose common name is ``name``."""
        try:
            return self.clients[name]
        except KeyError:
            known = ", ".join(sorted(self.clients)) or "none"
            raise PkiError(f"no client certificate for {name!r} (made: {known})") from None


def find_openssl() -> Path:
    """Return the ``openssl`` executable, or raise :class:`PkiError` saying how to get it."""
    found = shutil.which("openssl")
    if found is None:
        raise PkiError("openssl was not found on PATH; install it with: apt-get install -y openssl")
    return Path(found)


def check_name(name: str) -> str:
    """Return ``name`` if it can be a certificate CN and an MQTT user name, else raise."""
    if not _NAME.fullmatch(name):
        raise PkiError(
            f"{name!r} cannot be a client certificate name: use 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return name


def _subject_alt_name(server_names: Sequence[str]) -> str:
    entries = []
    for name in server_names:
        try:
            entries.append(f"IP:{ipaddress.ip_address(name)}")
            continue
        except ValueError:
            pass
        if not all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
            raise PkiError(f"{name!r} is neither an IP address nor a DNS name")
        entries.append(f"DNS:{name}")
    return "subjectAltName=" + ",".join(entries)


def _openssl(openssl: Path, args: Sequence[str]) -> None:
    try:
        subprocess.run(
            [str(openssl), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=_OPENSSL_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as exc:
        stderr = exc.stderr.decode(errors="replace").strip()
        raise PkiError(f"openssl {' '.join(args[:2])} failed: {stderr}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PkiError(f"cannot run {openssl}: {exc}") from exc


def _issue_args(
    pair: KeyPair, common_name: str, extensions: Sequence[str], *, days: int, ca: KeyPair | None
) -> list[str]:
    """``openssl`` arguments that write a new P-256 key and a certificate for it."""
    args = [
        "req", "-x509", "-new",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(pair.key), "-out", str(pair.cert),
        "-days", str(days), "-subj", f"/CN={common_name}",
    ]  # fmt: skip
    if ca is not None:
        # `req -x509 -CA` (OpenSSL 3.0+) signs with the CA in one step, no CSR file.
        args += ["-CA", str(ca.cert), "-CAkey", str(ca.key)]
    for extension in extensions:
        args += ["-addext", extension]
    return args


def _issue(
    openssl: Path,
    pair: KeyPair,
    common_name: str,
    extensions: Sequence[str],
    *,
    days: int,
    ca: KeyPair | None,
) -> None:
    """Write a new P-256 key and a certificate for it, signed by ``ca`` (self-signed if None)."""
    _openssl(openssl, _issue_args(pair, common_name, extensions, days=days, ca=ca))
    # Only the owner needs a private key; openssl leaves it to the umask.
    os.chmod(pair.key, 0o600)


def _openssl_many(openssl: Path, jobs: Sequence[Sequence[str]], parallel: int) -> None:
    """Run one ``openssl`` per job, at most ``parallel`` at once; the first failure raises."""
    running: deque[tuple[subprocess.Popen[bytes], Sequence[str]]] = deque()
    pending = iter(jobs)
    try:
        while True:
            while len(running) < parallel and (job := next(pending, None)) is not None:
                process = subprocess.Popen(
                    [str(openssl), *job],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                running.append((process, job))
            if not running:
                return
            process, args = running.popleft()
            _, stderr = process.communicate(timeout=_OPENSSL_TIMEOUT_S)
            if process.returncode != 0:
                message = stderr.decode(errors="replace").strip()
                raise PkiError(f"openssl {' '.join(args[:2])} failed: {message}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PkiError(f"cannot run {openssl}: {exc}") from exc
    finally:
        for process, _ in running:
            process.kill()
            process.wait()


def make_pki(
    directory: Path,
    server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
    clients: Sequence[str] = (),
    days: int = 3,
) -> Pki:
    """Create a CA, a server certificate and client certificates as PEM files in ``directory``.

    The server certificate carries every entry of ``server_names`` as a subject alternative
    name (an IP address entry for addresses, a DNS entry otherwise), so clients that check
    the server's name accept exactly those. Each name in ``clients`` gets a certificate with
    that common name. Certificates are valid from now for ``days`` days. Raises
    :class:`PkiError` for an unusable name or when openssl is missing or fails.
    """
    if not server_names:
        raise PkiError("the server certificate needs at least one name")
    if days < 1:
        raise PkiError(f"certificates must be valid for at least 1 day, got {days}")
    san = _subject_alt_name(server_names)
    names = [check_name(name) for name in clients]
    if len(set(names)) != len(names):
        raise PkiError("client certificate names must be unique")
    openssl = find_openssl()
    directory.mkdir(parents=True, exist_ok=True)

    ca = KeyPair(directory / "ca.pem", directory / "ca.key")
    ca_extensions = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
    _issue(openssl, ca, CA_NAME, ca_extensions, days=days, ca=None)
    server = KeyPair(directory / "server.pem", directory / "server.key")
    server_extensions = [*_LEAF, san, "extendedKeyUsage=serverAuth"]
    _issue(openssl, server, server_names[0], server_extensions, days=days, ca=ca)
    issued = {}
    for name in names:
        pair = KeyPair(directory / f"client-{name}.pem", directory / f"client-{name}.key")
        _issue(openssl, pair, name, _CLIENT, days=days, ca=ca)
        issued[name] = pair
    return Pki(directory, ca, server, tuple(server_names), issued)


def write_device_certs(
    pki: Pki,
    device_ids: Sequence[str],
    directory: Path,
    *,
    days: int = 3,
    parallel: int | None = None,
) -> KeyPair:
    """Write ``<id>.pem`` and ``<id>.key`` in ``directory`` for every id, signed by ``pki``'s CA.

    Each device gets its own P-256 key and a client certificate whose common name is its id
    (the broker's user name for it on the mutual-TLS listener). Runs up to ``parallel``
    ``openssl`` processes at once (default: one per CPU); 1,000 devices take a few seconds.
    Returns the two paths as templates with ``{device}`` where the id goes, which is what
    ``--client-cert`` and ``--client-key`` take. Raises :class:`PkiError` as :func:`make_pki`.
    """
    names = [check_name(name) for name in device_ids]
    if len(set(names)) != len(names):
        raise PkiError("device ids must be unique")
    if days < 1:
        raise PkiError(f"certificates must be valid for at least 1 day, got {days}")
    openssl = find_openssl()
    directory.mkdir(parents=True, exist_ok=True)
    pairs = [KeyPair(directory / f"{name}.pem", directory / f"{name}.key") for name in names]
    jobs = [
        _issue_args(pair, name, _CLIENT, days=days, ca=pki.ca)
        for pair, name in zip(pairs, names, strict=True)
    ]
    _openssl_many(openssl, jobs, max(1, parallel or os.cpu_count() or 1))
    for pair in pairs:
        os.chmod(pair.key, 0o600)
    return KeyPair(directory / f"{DEVICE_PLACEHOLDER}.pem", directory / f"{DEVICE_PLACEHOLDER}.key")
