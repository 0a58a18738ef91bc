"""Start and stop one local Mosquitto child process on a free port."""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Self

from simulator.broker.locate import default_config_dir, find_mosquitto
from simulator.broker.runtime_config import (
    BASE_CONFIG_NAME,
    read_config_file,
    render_runtime_config,
)
from simulator.errors import BrokerLaunchError

# Descriptors Mosquitto needs besides clients: listening sockets, epoll, the
# log, stdio, a few transient ones.
_FD_MARGIN = 32
# Linux never lets a soft limit exceed fs.nr_open (1,048,576 by default), so
# that is the honest ceiling when the hard limit reads as unlimited.
_NR_OPEN = Path("/proc/sys/fs/nr_open")
_NR_OPEN_DEFAULT = 1_048_576
_LOG_TAIL_LINES = 20
_PROBE_INTERVAL_S = 0.02
# A reserved port can still be taken by someone binding that very number with
# SO_REUSEADDR (see _reserve_ports); with an auto-chosen port we simply try another.
_PORT_ATTEMPTS = 3
# Stopping from a finalizer happens at collection or interpreter exit, where
# waiting long would stall the caller's shutdown.
_FINALIZE_TIMEOUT_S = 2.0

SOCKET_NAME = "mosquitto.sock"
"""File name of a broker's Unix socket listener, in a directory of its own."""
# sockaddr_un holds 108 bytes, the last one a NUL.
_SOCKET_PATH_MAX = 107


# Mosquitto started as root drops to this user (or to nobody when it does not exist) right
# after reading its config, so every file it opens later must be theirs.
_DROP_USERS = ("mosquitto", "nobody")


def _broker_user() -> pwd.struct_passwd | None:
    """The user a Mosquitto started by us runs as in the end, if it is not us."""
    if os.geteuid() != 0:
        return None
    for name in _DROP_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def hand_to_broker_user(paths: list[Path]) -> None:
    """Let the user a root-started Mosquitto becomes use ``paths``; nothing to do otherwise."""
    user = _broker_user()
    if user is None:
        return
    for path in paths:
        os.chown(path, user.pw_uid, user.pw_gid)


def _check_broker_can_enter(directory: Path) -> None:
    """Refuse a directory behind one the broker's user may not enter.

    Mosquitto fails to save its database there only when it stops, with nothing but a line
    in its log (pytest's ``tmp_path`` under a root-only ``/tmp/pytest-of-root`` is such a
    place), so a restart would silently start clean.
    """
    user = _broker_user()
    if user is None:
        return
    for parent in directory.parents:
        info = parent.stat()
        if info.st_uid == user.pw_uid:
            allowed = info.st_mode & stat.S_IXUSR
        elif info.st_gid == user.pw_gid:
            allowed = info.st_mode & stat.S_IXGRP
        else:
            allowed = info.st_mode & stat.S_IXOTH
        if not allowed:
            raise BrokerLaunchError(
                f"Mosquitto runs as {user.pw_name!r} and cannot enter {parent}, so it could "
                f"not keep its database in {directory}; choose a directory it can reach"
            )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _reserve_ports(host: str, wanted: tuple[int | None, ...]) -> Iterator[tuple[int, ...]]:
    """Hold the ``wanted`` ports (a free one for each None) until Mosquitto listens on them.

    Each is a socket bound with SO_REUSEADDR and never listening, kept open for the block.
    Mosquitto binds with SO_REUSEADDR too, so it can bind and listen beside it (and a port
    whose old connections linger in TIME_WAIT counts as free, as it will for Mosquitto),
    while the kernel hands the port to no one else's ``bind(0)`` or ``connect()`` and
    refuses it to a plain ``bind``. Without the hold, a port chosen and let go is anyone's
    until Mosquitto binds it, and whoever listens on it then answers the readiness probe in
    Mosquitto's place: the caller would talk to someone else's server.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        for port in wanted:
            sock = held.enter_context(socket.socket(family, socket.SOCK_STREAM))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port or 0))
            except OSError as exc:
                if port and exc.errno == errno.EADDRINUSE:
                    raise BrokerLaunchError(f"{host}:{port} is already in use") from exc
                raise BrokerLaunchError(
                    f"cannot take {host}:{port or 'a free port'}: {exc.strerror}"
                ) from exc
            ports.append(sock.getsockname()[1])
        yield tuple(ports)


def _hard_nofile() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        return hard
    try:
        return int(_NR_OPEN.read_text().strip())
    except (OSError, ValueError):
        return _NR_OPEN_DEFAULT


@contextlib.contextmanager
def _child_nofile_raised() -> Iterator[None]:
    """Raise this process's soft RLIMIT_NOFILE to the hard one while spawning.

    A child inherits the limit at fork. The alternatives fail: a preexec_fn is
    unsafe when the caller has threads, and prlimit() on the child races with
    Mosquitto dropping root privileges, after which only CAP_SYS_RESOURCE may
    change its limits. Raising a soft limit for a moment harms no one here.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        yield
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def max_connections_hint() -> int:
    """How many clients a local Mosquitto started from here can hold.

    Each connection costs Mosquitto one file descriptor and the launcher raises
    its soft limit to the hard one, so this is the hard ``RLIMIT_NOFILE`` less
    the few descriptors the broker needs for itself.
    """
    return max(_hard_nofile() - _FD_MARGIN, 0)


_GUARD_SCRIPT = Path(__file__).with_name("guard.py")


class _Guard:
    """The guard (:mod:`.guard`) that stops a broker once this process is gone.

    Only this process holds the write end of the guard's pipe: os.pipe() and pidfd_open()
    make their descriptors close-on-exec, and every child is started with close_fds, so no
    other child (another broker, its guard, an ingest worker) keeps the pipe open after this
    process has gone.
    """

    def __init__(self, broker: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        # Opened before anything reaps the broker, so it names this process even if the
        # pid is reused later.
        pidfd = os.pidfd_open(broker.pid)
        read_end, self._write_end = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_GUARD_SCRIPT), str(read_end), str(pidfd)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                close_fds=True,
                pass_fds=(read_end, pidfd),
                start_new_session=True,
            )
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)
            os.close(pidfd)

    @property
    def pid(self) -> int:
        """The guard's process id."""
        return self._process.pid

    def stop(self) -> None:
        """Stop the guard before the broker is stopped here, so it does not stop it too."""
        self._process.kill()
        self._process.wait()
        os.close(self._write_end)


def _shutdown(
    process: subprocess.Popen[bytes] | None,
    guard: _Guard | None,
    log: IO[bytes] | None,
    workdir: Path | None,
    timeout_s: float,
) -> None:
    """Stop the guard; SIGTERM, then SIGKILL after ``timeout_s``; close the log, remove the
    directory."""
    if guard is not None:
        guard.stop()
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if log is not None:
        log.close()
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


class LocalBroker:
    """A Mosquitto child process configured from ``broker_config/``.

    ``port=None`` picks a free port at :meth:`start`. The runtime config and
    Mosquitto's log live in a private temporary directory that :meth:`stop`
    removes. Usable as a context manager.

    ``persistence_dir`` turns Mosquitto's persistence on, with its database in that
    directory (created if missing, left in place by :meth:`stop`): a broker started later
    on the same directory resumes the sessions this one kept. Without it, every start is
    clean, as ``broker_config/mosquitto.conf`` says.

    ``unix_socket`` adds a second listener, a Unix socket at :attr:`socket_path`, for clients
    on this host: the same broker for a fifth less of its CPU a message than over TCP on the
    loopback (docs/PERFORMANCE.md). The path stays the same across
    :meth:`stop_for_restart`, so a client reconnects where it was.

    Subclasses with other profiles (:class:`~simulator.broker.SecureBroker`)
    override :meth:`_requested_ports`, :meth:`_load_config` and
    :meth:`_render_config`; starting, probing and stopping stay here.
    """

    def __init__(
        self,
        config_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        persistence_dir: Path | None = None,
        unix_socket: bool = False,
    ) -> None:
        self._config_dir = config_dir
        self._persistence_dir = persistence_dir
        self._unix_socket = unix_socket
        self._socket_dir: Path | None = None
        """Holds the Unix socket from the first start to the last stop, restarts included."""
        self._socket_dir_finalizer: weakref.finalize[..., LocalBroker] | None = None
        self._host = host
        self._requested_port = port
        self._ports: tuple[int, ...] | None = None
        self._base_text = ""
        self._base_path = Path()
        self._process: subprocess.Popen[bytes] | None = None
        self._guard: _Guard | None = None
        """Stops the broker if this process dies without stopping it (:mod:`.guard`)."""
        self._workdir: Path | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize[..., LocalBroker] | None = None
        self._held_ports: tuple[int, ...] | None = None

    @property
    def host(self) -> str:
        """The address the listener binds and clients connect to."""
        return self._host

    @property
    def port(self) -> int:
        """The listener's port; known once :meth:`start` has succeeded."""
        return self._started_ports()[0]

    @property
    def socket_path(self) -> Path | None:
        """The Unix socket listener's path, from the first start with ``unix_socket`` to the
        last stop (else None)."""
        if self._socket_dir is None:
            return None
        return self._socket_dir / SOCKET_NAME

    @property
    def url(self) -> str:
        """``mqtt://host:port`` for clients (IPv6 hosts in brackets)."""
        return self._url("mqtt", self.port)

    def _url(self, scheme: str, port: int) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{port}"

    def _started_ports(self) -> tuple[int, ...]:
        if self._ports is None:
            raise BrokerLaunchError("the broker has not been started")
        return self._ports

    @property
    def pid(self) -> int:
        """Process id of the running Mosquitto."""
        if self._process is None:
            raise BrokerLaunchError("the broker has not been started")
        return self._process.pid

    @property
    def log_path(self) -> Path | None:
        """Mosquitto's captured stdout and stderr, while the broker is started."""
        return None if self._workdir is None else self._workdir / "mosquitto.log"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start Mosquitto and return once its listener accepts TCP connections.

        Raises :class:`BrokerLaunchError` with Mosquitto's exit code and the end
        of its log when it exits early or does not listen within ``timeout_s``.
        """
        if self._process is not None:
            raise BrokerLaunchError(f"the broker is already running (pid {self._process.pid})")
        executable = find_mosquitto()
        self._load_config(
            self._config_dir if self._config_dir is not None else default_config_dir()
        )

        requested = self._held_ports or self._requested_ports()
        attempts = _PORT_ATTEMPTS if None in requested else 1
        for attempt in range(1, attempts + 1):
            # Held until Mosquitto listens: the readiness probe cannot tell our Mosquitto
            # from whatever else listens on the port, so nothing else may take it meanwhile.
            with _reserve_ports(self._host, requested) as ports:
                self._spawn(executable, ports)
                try:
                    self._wait_listening(ports, timeout_s)
                except BrokerLaunchError:
                    tail = self.log_tail()
                    self.stop()
                    if attempt < attempts and "Address already in use" in tail:
                        continue
                    raise
            self._ports = ports
            return

    def _requested_ports(self) -> tuple[int | None, ...]:
        """One entry per listener, in the order the config defines them; None for any free port."""
        return (self._requested_port,)

    def _load_config(self, config_dir: Path) -> None:
        """Read the profile's files from ``config_dir`` once, before any attempt to start."""
        self._base_path = config_dir / BASE_CONFIG_NAME
        self._base_text = read_config_file(self._base_path)

    def _render_config(self, workdir: Path, ports: tuple[int, ...]) -> str:
        """Return the runtime config for ``ports``, writing any files it names into ``workdir``."""
        directory = self._persistence_dir
        if directory is not None:
            directory = directory.absolute()
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BrokerLaunchError(f"cannot create {directory}: {exc}") from exc
            _check_broker_can_enter(directory)
            hand_to_broker_user([directory])
        return render_runtime_config(
            self._base_text,
            self._host,
            ports[0],
            str(self._base_path),
            persistence_dir=directory,
            socket_path=self._prepare_socket(),
        )

    def _prepare_socket(self) -> Path | None:
        """The Unix socket's path, its directory made on the first start (Mosquitto binds
        it as the user it becomes, so the directory is that user's) and emptied of a socket
        a killed broker left (Mosquitto will not bind over one)."""
        if not self._unix_socket:
            return None
        if self._socket_dir is None:
            directory = Path(tempfile.mkdtemp(prefix="factory-sim-sock-"))
            self._socket_dir = directory
            self._socket_dir_finalizer = weakref.finalize(
                self, shutil.rmtree, directory, ignore_errors=True
            )
            if len(bytes(directory / SOCKET_NAME)) > _SOCKET_PATH_MAX:
                raise BrokerLaunchError(
                    f"a Unix socket in {directory} would pass the {_SOCKET_PATH_MAX}-byte "
                    "limit on its path: set TMPDIR to a shorter directory, or connect over "
                    "TCP only ([ingest] unix_socket = false)"
                )
            hand_to_broker_user([directory])
        path = self._socket_dir / SOCKET_NAME
        path.unlink(missing_ok=True)
        return path

    def _spawn(self, executable: Path, ports: tuple[int, ...]) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="factory-sim-broker-"))
        self._workdir = workdir
        self._log = (workdir / "mosquitto.log").open("wb")
        try:
            runtime_config = self._render_config(workdir, ports)
        except BrokerLaunchError:
            self.stop()
            raise
        config_path = workdir / "mosquitto.conf"
        config_path.write_text(runtime_config, encoding="utf-8")
        try:
            with _child_nofile_raised():
                # Own session: a Ctrl-C in the terminal reaches the runner,
                # which drains and then stops the broker, instead of killing it
                # mid-run.
                self._process = subprocess.Popen(
                    [str(executable), "-c", str(config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    start_new_session=True,
                )
        except OSError as exc:
            self.stop()
            raise BrokerLaunchError(f"cannot start {executable}: {exc}") from exc
        # A process that dies without stopping its broker (SIGKILL, os._exit) must
        # not leave it orphaned, holding a port: the guard stops it then.
        try:
            self._guard = _Guard(self._process, self._log)
        except OSError as exc:
            self.stop()
            raise BrokerLaunchError(f"cannot start the broker's guard: {exc}") from exc
        # An owner that forgets stop() or dies on an exception: stop it when this
        # object is collected or the interpreter exits.
        self._finalizer = weakref.finalize(
            self,
            _shutdown,
            self._process,
            self._guard,
            self._log,
            workdir,
            _FINALIZE_TIMEOUT_S,
        )

    def _wait_listening(self, ports: tuple[int, ...], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for port in ports:
            self._wait_port(port, deadline, timeout_s)

    def _wait_port(self, port: int, deadline: float, timeout_s: float) -> None:
        process = self._process
        assert process is not None
        while True:
            code = process.poll()
            if code is not None:
                raise BrokerLaunchError(
                    f"mosquitto exited with code {code} before listening on "
                    f"{self._host}:{port}; end of its log:\n{self.log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerLaunchError(
                    f"mosquitto (pid {process.pid}) did not listen on {self._host}:{port} "
                    f"within {timeout_s} s; end of its log:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection((self._host, port), timeout=min(remaining, 1.0)):
                    return
            except OSError:
                time.sleep(min(_PROBE_INTERVAL_S, max(remaining, 0.0)))

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of Mosquitto's log ("" when there is none)."""
        path = self.log_path
        if path is None:
            return ""
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop Mosquitto (SIGTERM, then SIGKILL after ``timeout_s``) and clean up.

        Safe to call more than once and after a failed :meth:`start`.
        """
        self._stop(timeout_s)
        if self._socket_dir_finalizer is not None:
            self._socket_dir_finalizer()  # removes the directory, once
            self._socket_dir_finalizer = None
            self._socket_dir = None

    def _stop(self, timeout_s: float) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        _shutdown(self._process, self._guard, self._log, self._workdir, timeout_s)
        self._process = None
        self._guard = None
        self._log = None
        self._workdir = None
        self._ports = None

    def stop_for_restart(self, timeout_s: float = 5.0) -> None:
        """Stop the broker as :meth:`stop` does, keeping its ports and its Unix socket's path
        for the next :meth:`start`: clients find it where it was (and, with
        ``persistence_dir``, their sessions)."""
        ports = self._started_ports()
        self._stop(timeout_s)
        self._held_ports = ports

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
