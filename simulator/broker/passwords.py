"""Mosquitto 2.0 password files, written directly.

Mosquitto 2.0 reads ``user:$7$<iterations>$<salt>$<hash>`` lines: PBKDF2-HMAC-SHA512 over
the UTF-8 password with a 12-byte random salt, both base64-encoded, 101 iterations by
default. This is what ``mosquitto_passwd -b`` writes, byte for byte, given the same salt.

Written here instead of by ``mosquitto_passwd`` because a fleet has one account per device:
``mosquitto_passwd -b`` adds one user per process and rewrites the whole file each time, so
10,000 users take minutes, against well under a second here (see ``broker_config/README.md``
for the measurement).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from simulator.errors import BrokerLaunchError

DEFAULT_ITERATIONS = 101
"""``mosquitto_passwd``'s default. Every CONNECT costs the broker one hash of this many
rounds, so a load test keeps it low; a production broker would use many more."""

_SALT_BYTES = 12


def hash_password(
    password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """Return the ``$7$...`` hash Mosquitto 2.0 stores for ``password`` (random salt if None)."""
    if iterations < 1:
        raise BrokerLaunchError(f"password hash iterations must be >= 1, got {iterations}")
    if salt is None:
        salt = os.urandom(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _check_user(username: str, password: str) -> None:
    # Mosquitto splits each line at the first ':'; a line break would start a new entry.
    if not username or ":" in username or any(ch in username for ch in "\r\n\0"):
        raise BrokerLaunchError(
            f"{username!r} cannot be a Mosquitto user name: it must be non-empty "
            "and contain no ':', line break or NUL"
        )
    if any(ch in password for ch in "\r\n\0"):
        raise BrokerLaunchError(f"the password of {username!r} contains a line break or NUL")


def write_password_file(
    path: Path, users: Mapping[str, str], iterations: int = DEFAULT_ITERATIONS
) -> None:
    """Write a Mosquitto password file for ``users`` (user name -> password), mode 0600.

    Every entry is checked before anything is written; an unusable user name or password
    raises :class:`BrokerLaunchError` naming it.
    """
    for username, password in users.items():
        _check_user(username, password)
    lines = [f"{name}:{hash_password(pw, iterations=iterations)}\n" for name, pw in users.items()]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.writelines(lines)
