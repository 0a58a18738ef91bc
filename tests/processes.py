"""Processes a test starts side by side, as the hosts or pods of one run would: each under a
name, in a folder of its own, its output in a log file there (never a pipe that could fill
while nobody reads it); all killed when the ``with`` block ends, however it ends. Also: the
children a process started, found by their command lines (a run's ingest worker)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Self

from tests.commands import CHILD_ENV
from tests.waiting import wait_until_sync

PROCESS_TIMEOUT_S = 120.0
"""How long a process of a test may take to finish once it is waited for."""


class Processes:
    """Starts processes under names, in folders of ``directory``; see the module."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def start(
        self, name: str, argv: list[str], folder: str, env: dict[str, str] | None = None
    ) -> None:
        """Start ``argv`` in ``directory/folder``, with the children's environment and ``env``."""
        cwd = self.directory / folder
        cwd.mkdir(parents=True, exist_ok=True)
        log = self.logs[name] = cwd / f"{name.replace(' ', '-').replace('/', '-')}.log"
        with log.open("wb") as out:
            self.running[name] = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**CHILD_ENV, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def wait_for_output(self, name: str, text: str, timeout_s: float = 60.0) -> None:
        """Wait until the process has printed ``text``; fail if it ends first."""
        process = self.running[name]
        wait_until_sync(
            lambda: text in self.output(name) or process.poll() is not None,
            f"{name} to print {text!r}",
            timeout_s,
        )
        assert text in self.output(name), f"{name} exited {process.poll()}:\n{self.output(name)}"

    def finish(self) -> dict[str, str]:
        """Wait for every running process; fail naming the first that did not exit 0. Their
        output, by name."""
        running, self.running = self.running, {}
        outputs = {}
        try:
            for name, process in running.items():
                status = process.wait(timeout=PROCESS_TIMEOUT_S)
                outputs[name] = self.output(name)
                assert status == 0, f"{name} exited {status}:\n{outputs[name]}"
        finally:
            _kill(running)
        return outputs

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        _kill(self.running)


def _kill(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.kill()
        process.wait()


def children_running(pid: int, *arguments: str) -> list[int]:
    """The pids of process ``pid``'s children that have every one of ``arguments`` among the
    arguments of their command line (``"simulator", "ingest"``: a run's ingest workers)."""
    wanted = [argument.encode() for argument in arguments]
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:  # ended meanwhile
                continue
            if all(argument in command for argument in wanted):
                found.append(int(child))
    return found
