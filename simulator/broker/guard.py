"""Stop a broker once the process that started it is gone, however it went.

Run as a script beside each Mosquitto the launcher starts, never imported (it imports nothing
of ours, so ``python -I -S guard.py`` starts in a few milliseconds)::

    guard.py <pipe read end> <pidfd of the broker>

The launcher keeps the pipe's only write end and never writes to it. When the launcher's
process ends, by a clean exit, an exception or SIGKILL, the kernel closes that end and the read
here returns end-of-file; the guard then stops the broker: SIGTERM, so Mosquitto saves its
persistence database as at a normal stop, and SIGKILL if it has not exited within
:data:`GRACE_S`. A launcher that stops its broker itself stops the guard first.

The broker is named by a pidfd the launcher opened before anyone could reap it, not by its
pid, so a broker that exited long ago and whose pid was reused takes no one else with it.
``PR_SET_PDEATHSIG`` would not do: it fires when the *thread* that started the child exits,
and brokers are started from worker threads.
"""

from __future__ import annotations

import os
import select
import signal
import sys

GRACE_S = 5.0
"""How long the broker has to exit after SIGTERM before it is killed."""


def _signal(pidfd: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the broker; False if it has exited already."""
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        return False
    return True


def guard(pipe_fd: int, pidfd: int) -> None:
    """Block until the pipe's write end is closed everywhere, then stop the broker."""
    while os.read(pipe_fd, 64):
        pass  # nobody writes; read until end-of-file
    if not _signal(pidfd, signal.SIGTERM):
        return
    # A pidfd turns readable when its process exits.
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if not poller.poll(int(GRACE_S * 1000)):
        _signal(pidfd, signal.SIGKILL)


if __name__ == "__main__":
    # Own session (the launcher starts it so): a Ctrl-C meant for the simulator stays there.
    guard(int(sys.argv[1]), int(sys.argv[2]))
