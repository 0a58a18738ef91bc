"""Several local Mosquitto processes started and stopped as one: ``[broker] instances = K``.

One Mosquitto holds as many clients as its open-files limit allows (about 20,000 here), so a
fleet beyond that is dealt over K of them (:mod:`simulator.transport.dealing`), each started
from ``broker_config/`` on a port of its own by :class:`~simulator.broker.LocalBroker`. They
are independent brokers, not a cluster: a message reaches only the subscribers of the broker
it was published on, which is why ingest subscribes on each.

Either all of them run or none does: a broker that fails to start stops the ones started
before it, and :meth:`BrokerPool.stop` stops every one, even when one of them fails to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Self

from simulator.broker.launcher import LocalBroker
from simulator.errors import BrokerLaunchError


class BrokerPool:
    """``instances`` local Mosquitto processes, each on its own free port."""

    def __init__(
        self,
        instances: int,
        config_dir: Path | None = None,
        host: str = "127.0.0.1",
        *,
        make: Callable[[Path | None, str], LocalBroker] = LocalBroker,
    ) -> None:
        if instances < 1:
            raise BrokerLaunchError(f"a pool needs at least one broker, got {instances}")
        self.brokers = [make(config_dir, host) for _ in range(instances)]
        """The pool's brokers, in the order connections are dealt over them."""

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """Each broker's ``(host, port)``, once started."""
        return tuple((broker.host, broker.port) for broker in self.brokers)

    @property
    def pids(self) -> tuple[int, ...]:
        """Each broker's process id, once started."""
        return tuple(broker.pid for broker in self.brokers)

    def start(self, timeout_s: float = 10.0) -> None:
        """Start every broker and return once each accepts TCP connections.

        Raises :class:`BrokerLaunchError` naming the broker that failed, after stopping those
        already started.
        """
        try:
            for number, broker in enumerate(self.brokers):
                try:
                    broker.start(timeout_s)
                except BrokerLaunchError as exc:
                    raise BrokerLaunchError(
                        f"broker {number + 1} of {len(self.brokers)}: {exc}"
                    ) from exc
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop every broker (safe to call more than once); raise the first failure after
        trying them all."""
        failure: BaseException | None = None
        for broker in self.brokers:
            try:
                broker.stop(timeout_s)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
