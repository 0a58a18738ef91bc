"""Mosquitto 2.0 password hashes written without mosquitto_passwd."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from simulator.broker import hash_password, write_password_file
from simulator.errors import BrokerLaunchError

# Written by `mosquitto_passwd -c -b FILE ms-000042 's3cret:with colon'` (Mosquitto 2.0.11):
# an independent implementation to compare with, salt included.
MOSQUITTO_PASSWD_LINE = (
    "ms-000042:$7$101$WY9A2bNFi4E80QUk$W5ROqzvHaYLZ5tcTytP7gz2qRUJlib4UYFLee74sKuBPehtY"
    "ZfG07qfHRBwPf51ll3abAbP1F8cvi68xLvbTug=="
)


def test_hash_matches_mosquitto_passwd_for_the_same_salt() -> None:
    user, stored = MOSQUITTO_PASSWD_LINE.split(":", 1)
    salt = base64.b64decode(stored.split("$")[3])

    assert f"{user}:{hash_password('s3cret:with colon', salt=salt)}" == MOSQUITTO_PASSWD_LINE


def test_a_different_password_gives_a_different_hash() -> None:
    stored = MOSQUITTO_PASSWD_LINE.split(":", 1)[1]
    salt = base64.b64decode(stored.split("$")[3])

    assert hash_password("s3cret:with colon!", salt=salt) != stored


def test_random_salts_are_twelve_bytes_and_differ() -> None:
    first, second = hash_password("pw"), hash_password("pw")

    assert first != second
    assert len(base64.b64decode(first.split("$")[3])) == 12
    assert first.startswith("$7$101$")


def test_file_has_one_line_per_user_readable_by_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    users = {"ms-000001": "a", "ms-000002": "b", "ingest": "c"}

    write_password_file(path, users, iterations=5)

    lines = path.read_text(encoding="utf-8").splitlines()
    assert [line.split(":", 1)[0] for line in lines] == list(users)
    assert all(line.split(":", 1)[1].startswith("$7$5$") for line in lines)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("user", "password"), [("a:b", "pw"), ("", "pw"), ("a\nb", "pw"), ("ok", "p\nw")]
)
def test_entries_mosquitto_would_misread_are_refused_before_writing(
    tmp_path: Path, user: str, password: str
) -> None:
    path = tmp_path / "passwords"

    with pytest.raises(BrokerLaunchError):
        write_password_file(path, {"fine": "pw", user: password})

    assert not path.exists()


def test_iterations_below_one_are_refused() -> None:
    with pytest.raises(BrokerLaunchError, match="iterations"):
        hash_password("pw", iterations=0)
