"""The ``factory-sim`` command lines that the pods of ``deploy/k8s/`` run, as argv lists.

A container either gives the image's entrypoint (``factory-sim``) its ``args``, where
Kubernetes fills in ``$(VAR)`` from the container's environment, or runs a ``/bin/sh -c``
script, where the shell fills in ``$VAR``. Both are expanded here with the values a pod would
have (the run's ConfigMap, and a completion index for an Indexed Job's pod), so the tests can
parse each command with the project's own argument parser and look at what it names.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

KUBERNETES_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
SHELL_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
SHELL_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\S+)$")
PROGRAM = "factory-sim"
INDEXED_JOB_INDEX = "JOB_COMPLETION_INDEX"
"""The variable the Job controller gives each pod of an Indexed Job: its index, 0 to N-1."""


@dataclass(frozen=True)
class PodCommand:
    """One ``factory-sim`` invocation of one container."""

    container: str
    argv: list[str]
    """The arguments after ``factory-sim``, expanded."""


def shell_script(container: dict[str, Any]) -> str | None:
    """The container's ``/bin/sh -c`` script, or None when it runs another program."""
    command = container.get("command")
    if command is None or command[:2] != ["/bin/sh", "-c"]:
        return None
    words = [*command[2:], *container.get("args", [])]
    assert len(words) == 1, f"{container['name']}: one script expected"
    return str(words[0])


def expand_kubernetes(text: str, env: dict[str, str]) -> str:
    """``$(VAR)`` filled in as the kubelet does (KeyError for a variable the pod lacks)."""
    return KUBERNETES_VARIABLE.sub(lambda m: env[m.group(1)], text)


def expand_shell(text: str, env: dict[str, str]) -> str:
    return SHELL_VARIABLE.sub(lambda m: env[m.group(1) or m.group(2)], text)


def script_lines(script: str) -> list[str]:
    """The script's logical lines: continuations (a backslash at the end) joined."""
    return script.replace("\\\n", " ").splitlines()


def shell_variables_used(script: str) -> set[str]:
    """Every ``$VAR`` / ``${VAR}`` the script reads (``$!``, ``$?`` and the like are not names)."""
    return {m.group(1) or m.group(2) for m in SHELL_VARIABLE.finditer(script)}


def shell_variables_set(script: str) -> set[str]:
    """Every variable the script assigns (``name=...`` at the start of a line)."""
    names = set()
    for line in script_lines(script):
        match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)=", line)
        if match:
            names.add(match.group(1))
    return names


def commands(container: dict[str, Any], env: dict[str, str]) -> list[PodCommand]:
    """Every ``factory-sim`` invocation of the container, expanded with ``env``."""
    script = shell_script(container)
    if script is None and "command" in container:
        return []
    if script is None:
        argv = [expand_kubernetes(arg, env) for arg in container.get("args", [])]
        return [PodCommand(container["name"], argv)]
    local = dict(env)
    found = []
    for line in script_lines(script):
        words = shlex.split(line.strip(), comments=True)
        if len(words) == 1 and SHELL_ASSIGNMENT.match(words[0]):
            name, value = words[0].split("=", 1)
            local[name] = expand_shell(value, local)
            continue
        if words[:1] == ["exec"]:
            words = words[1:]
        if words[:1] != [PROGRAM]:
            continue
        if words[-1:] == ["&"]:
            words = words[:-1]
        found.append(PodCommand(container["name"], [expand_shell(w, local) for w in words[1:]]))
    return found
