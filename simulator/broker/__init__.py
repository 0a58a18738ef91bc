"""Launching and stopping a local Mosquitto for runs and tests.

The broker's settings live in ``broker_config/mosquitto.conf`` (no listener);
:class:`LocalBroker` writes a runtime config that adds the listener for a
chosen or free port, starts Mosquitto as a child process and stops it again::

    with LocalBroker() as broker:
        run_fleet(broker.url)

Synchronous on purpose (subprocess and a blocking TCP probe): a runner calls it
before its event loop starts or from a worker thread. Every failure is a
:class:`~simulator.errors.BrokerLaunchError`.
"""

from simulator.broker.launcher import LocalBroker, free_port, max_connections_hint
from simulator.broker.locate import CONFIG_DIR_ENV, SBIN_DIRS, default_config_dir, find_mosquitto
from simulator.broker.runtime_config import BASE_CONFIG_NAME, render_runtime_config

__all__ = [
    "BASE_CONFIG_NAME",
    "CONFIG_DIR_ENV",
    "SBIN_DIRS",
    "LocalBroker",
    "default_config_dir",
    "find_mosquitto",
    "free_port",
    "max_connections_hint",
    "render_runtime_config",
]
