"""Launching and stopping a local Mosquitto for runs and tests.

The broker's settings live in ``broker_config/mosquitto.conf`` (no listener);
:class:`LocalBroker` writes a runtime config that adds the listener for a
chosen or free port, starts Mosquitto as a child process and stops it again::

    with LocalBroker() as broker:
        run_fleet(broker.url)

``LocalBroker(persistence_dir=path)`` keeps Mosquitto's sessions in ``path``, so a broker
stopped and started again there resumes them (a restart test's broker).

:class:`BrokerPool` starts and stops several as one (``[broker] instances``).

:class:`SecureBroker` starts the secure profile (``broker_config/secure/``):
passwords, per-device ACLs, a TLS and a mutual-TLS listener, with certificates
from :func:`make_pki` (a fleet's per-device ones from :func:`write_device_certs`)
and a password file from :func:`write_password_file`.

Synchronous on purpose (subprocess and a blocking TCP probe): a runner calls it
before its event loop starts or from a worker thread. Every failure is a
:class:`~simulator.errors.BrokerLaunchError`.
"""

from simulator.broker.launcher import LocalBroker, free_port, max_connections_hint
from simulator.broker.locate import CONFIG_DIR_ENV, SBIN_DIRS, default_config_dir, find_mosquitto
from simulator.broker.passwords import DEFAULT_ITERATIONS, hash_password, write_password_file
from simulator.broker.pki import (
    DEFAULT_SERVER_NAMES,
    DEVICE_PLACEHOLDER,
    KeyPair,
    Pki,
    make_pki,
    write_device_certs,
)
from simulator.broker.pool import BrokerPool
from simulator.broker.runtime_config import (
    BASE_CONFIG_NAME,
    persistence_settings,
    render_runtime_config,
    render_secure_config,
)
from simulator.broker.secure import FLEET_USER, INGEST_USER, SecureBroker
from simulator.errors import PkiError

__all__ = [
    "BASE_CONFIG_NAME",
    "CONFIG_DIR_ENV",
    "DEFAULT_ITERATIONS",
    "DEFAULT_SERVER_NAMES",
    "DEVICE_PLACEHOLDER",
    "FLEET_USER",
    "INGEST_USER",
    "SBIN_DIRS",
    "BrokerPool",
    "KeyPair",
    "LocalBroker",
    "Pki",
    "PkiError",
    "SecureBroker",
    "default_config_dir",
    "find_mosquitto",
    "free_port",
    "hash_password",
    "make_pki",
    "max_connections_hint",
    "persistence_settings",
    "render_runtime_config",
    "render_secure_config",
    "write_device_certs",
    "write_password_file",
]
