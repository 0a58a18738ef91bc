"""Network namespaces standing in for hosts: a small LAN on this machine, for tests that need
several machines' worth of network stacks (addresses, ports, routes) and have one machine.

:func:`lan` makes ``count`` hosts, each a network namespace of its own with one address on a
/24 of the benchmarking range (198.18.0.0/15, RFC 2544: never a real network's), joined by a
bridge in a namespace of its own (the switch). This process's namespace is plugged into the
switch too, with the subnet's first address, so a server started here (a Mosquitto) is
reachable from every host at that address, and nowhere else: the addresses exist only on
these links.

Everything is made under names unique to the call and taken down when the ``with`` block
ends, however it ends: deleting a namespace deletes its links, and a veth pair dies with
either end, so nothing of it outlives the test. Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

SUBNETS = tuple(f"198.{b}.{c}" for b in (18, 19) for c in range(256))
"""The /24s of the benchmarking range, as ``a.b.c`` prefixes."""
FIRST_HOST = 10
"""Host ``i`` gets address ``.{FIRST_HOST + i}``; ``.1`` is this process's namespace."""
IP_TIMEOUT_S = 10


def available() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need ip (iproute2)"
    return None


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output, or CalledProcessError with what it said."""
    done = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise subprocess.CalledProcessError(
            done.returncode, ["ip", *args], done.stdout, done.stderr
        )
    return done.stdout


@dataclass(frozen=True)
class Host:
    """One stand-in host: a namespace, its link to the switch and its one address."""

    namespace: str
    link: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's network namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def bytes_sent(self) -> int:
        """Bytes this host has sent on its link so far."""
        [link] = json.loads(ip("-n", self.namespace, "-s", "-j", "link", "show", "dev", self.link))
        return int(link["stats64"]["tx"]["bytes"])


@dataclass(frozen=True)
class Lan:
    """The hosts, and this namespace's own address on their switch (where servers listen)."""

    hosts: tuple[Host, ...]
    local_address: str
    local_link: str
    """This namespace's link to the switch."""
    switch: str
    """The switch's namespace."""


def _free_subnet() -> str:
    """A /24 of the range that no route of this namespace uses (another test's LAN, say)."""
    used = {route.get("dst", "") for route in json.loads(ip("-4", "-j", "route", "show"))}
    choices = list(SUBNETS)
    random.shuffle(choices)
    for prefix in choices:
        if f"{prefix}.0/24" not in used:
            return prefix
    raise RuntimeError("every /24 of 198.18.0.0/15 is routed here already")


@contextmanager
def lan(count: int) -> Iterator[Lan]:
    """``count`` hosts on one switch, with this namespace on it too (see the module)."""
    token = secrets.token_hex(3)
    prefix = _free_subnet()
    switch = f"fsim-{token}-switch"
    namespaces: list[str] = []
    local_link = f"fs{token}l"
    try:
        ip("netns", "add", switch)
        namespaces.append(switch)
        ip("-n", switch, "link", "set", "lo", "up")
        ip("-n", switch, "link", "add", "br0", "type", "bridge")
        ip("-n", switch, "link", "set", "br0", "up")
        ip("link", "add", local_link, "type", "veth", "peer", "name", "port0", "netns", switch)
        ip("-n", switch, "link", "set", "port0", "master", "br0", "up")
        local_address = f"{prefix}.1"
        ip("addr", "add", f"{local_address}/24", "dev", local_link)
        ip("link", "set", local_link, "up")
        hosts = []
        for index in range(count):
            namespace = f"fsim-{token}-host{index}"
            ip("netns", "add", namespace)
            namespaces.append(namespace)
            port = f"port{index + 1}"
            ip("-n", namespace, "link", "set", "lo", "up")
            ip("-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name", port)
            ip("-n", namespace, "link", "set", port, "netns", switch)
            ip("-n", switch, "link", "set", port, "master", "br0", "up")
            address = f"{prefix}.{FIRST_HOST + index}"
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", namespace, "link", "set", "eth0", "up")
            hosts.append(Host(namespace, "eth0", address))
        yield Lan(tuple(hosts), local_address, local_link, switch)
    finally:
        _take_down(namespaces, local_link)


def _take_down(namespaces: list[str], local_link: str) -> None:
    """Delete every namespace made, each whatever became of the others, then the local link
    if it is still there (it goes with its peer in the switch; only a failure half-way could
    leave it); raise the first failure after trying them all."""
    failures: list[subprocess.CalledProcessError] = []
    for namespace in reversed(namespaces):
        try:
            ip("netns", "delete", namespace)
        except subprocess.CalledProcessError as exc:
            failures.append(exc)
    if local_link in links():
        ip("link", "delete", local_link)
    if failures:
        raise failures[0]


def namespaces() -> set[str]:
    """The network namespaces that exist now, by name."""
    return {line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()}


def links() -> set[str]:
    """This namespace's links, by name."""
    return {link["ifname"] for link in json.loads(ip("-j", "link", "show"))}
