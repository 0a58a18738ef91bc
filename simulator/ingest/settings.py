"""What one ingest worker is told: resolved once, then handed over whole.

``run`` resolves a scenario into one :class:`WorkerSettings` and gives the worker process that
exact object as JSON on its standard input (:meth:`WorkerSettings.to_json` and
:meth:`WorkerSettings.from_json`), never as a command line rebuilt by hand: every setting
reaches the worker, the password never shows in a process list, and a field added here travels
without a flag to add. ``factory-sim ingest`` builds the same object from its own flags.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from simulator.mqtt import ConnectOptions, MQTTVersion
from simulator.provisioning.provisioner import Policy

MAX_RECEIVE_MAXIMUM = 0xFFFF
"""The largest Receive Maximum MQTT 5 allows: as many messages as there are packet ids."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Everything one worker needs to know; built from a scenario or the ingest command line."""

    host: str
    port: int
    socket_path: str | None = None
    """The broker's Unix socket listener on this host: the worker connects there instead of
    TCP to ``host:port`` (which still names the broker), for a fifth less of the broker's CPU
    a message. A run sets it for a broker it starts itself (``[ingest] unix_socket``)."""
    topic_filter: str = "factory/#"
    share_group: str | None = "ingest"
    mqtt_version: MQTTVersion = MQTTVersion.V5
    client_id: str = "ingest-0"
    keepalive_s: int = 60
    qos: int = 0
    payload: str = "msgpack"
    batch_size: int = 1000
    batch_max_age_s: float = 0.25
    max_pending_batches: int = 8
    """Batches queued for the sink before the worker stops reading from the broker."""
    read_interval_s: float = 0.002
    """While messages come faster, the connection reads at most once this often, the kernel
    gathering what arrives meanwhile (:mod:`.reading`); 0 reads whenever data arrives."""
    connect_timeout_s: float = 10.0
    username: str | None = None
    password: str | None = None
    session_expiry_s: int = 0
    """Keep the subscriber's session (its subscription, what the broker queues for it and
    what it had in flight to it) across a drop and resume it on reconnect; 0 starts clean
    every time. MQTT 5: the broker keeps it this many seconds. MQTT 3.1.1 has no expiry
    interval: any value above 0 connects with clean session 0, and the broker keeps the
    session until it expires it itself, across runs too."""
    tls: bool = False
    """Connect with TLS (see ``ca_file``, ``cert_file``, ``key_file``, ``verify``)."""
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    register_filter: str | None = None
    """Also subscribe to the registration topics (the ``register`` onboarding workflow), to
    time each new device from its connection attempt to its first ingested message."""
    death_filter: str | None = None
    """Also subscribe to the death topics (the ``register`` workflow) and count the devices
    each death names (see :mod:`.deaths`)."""
    respond: Policy | None = None
    """Also answer the registrations heard there (the provisioning responder's job), so a run
    needs no second subscriber; None leaves answering to someone else."""
    sparkplug_group: str | None = None
    """Also take the Sparkplug B messages of this group (``spBv1.0/<group>/#``): data messages
    are accounted as telemetry, births and deaths counted apart (see :mod:`.sparkplug`)."""
    partition: tuple[str, ...] = ()
    """This worker's share of the telemetry topics, as plain subscriptions (see
    :mod:`simulator.scenario.partition`): every device's messages reach one worker, so its
    sequence accounting stays exact. Empty: ``topic_filter``, shared by ``share_group``."""
    worker_index: int = 0
    """Which of a run's workers this is; the first also takes what no partition places."""
    sink: str = "sqlite:///runs/ingest.sqlite"
    """Where rows are stored: ``sqlite:///PATH`` or ``postgresql://user:pass@host:port/db``."""
    run_id: str = ""
    """The run every stored row is marked with (empty: the worker makes one up)."""
    sink_retry_s: float = 30.0
    """How long a failing sink is retried before the rows of a batch are given up as lost."""
    sink_busy_timeout_s: float = 10.0
    """How long SQLite waits for a lock another process holds before a write fails."""
    store_payloads: bool = False
    """Store each message's payload bytes beside its decoded values; off, ``payload`` is NULL
    (malformed messages keep theirs either way)."""
    resume_from_sink: bool = False
    """This worker replaces one of the run that died: before it subscribes, it reads what the
    run has stored of its devices and counts on from there (:meth:`Sink.read_stored`)."""
    broker_number: int = 0
    """Which broker of the run's pool this worker subscribes on (0: the first, or the only)."""
    broker_count: int = 1
    """How many brokers the run's fleet is dealt over. With several, a restarted worker reads
    back only the devices its broker carried (:func:`~simulator.transport.dealing.
    broker_of_device`): the sink holds every broker's rows under one run id, and another
    broker's devices on the same topics are another worker's to count."""
    connection_blocks: tuple[tuple[int, int], ...] = ()
    """The fleet's groups as ``(first device index, devices per connection)``, so a device's
    broker follows from its index; empty: one connection per device."""

    group_starts: tuple[int, ...] = ()
    """The first fleet index of each group of a fleet of several (model, interval, payload
    format), so ingest counts each apart; empty for a fleet of one group."""

    def to_json(self) -> str:
        """This object as one JSON document, for the worker process's standard input."""
        data = dataclasses.asdict(self)
        data["mqtt_version"] = self.mqtt_version.name
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> WorkerSettings:
        """The object :meth:`to_json` wrote; ValueError naming what is wrong otherwise."""
        try:
            data: dict[str, Any] = json.loads(text)
            data["mqtt_version"] = MQTTVersion[data["mqtt_version"]]
            data["partition"] = tuple(data.get("partition", ()))
            data["group_starts"] = tuple(data.get("group_starts", ()))
            data["connection_blocks"] = tuple(
                (int(first), int(per)) for first, per in data.get("connection_blocks", ())
            )
            respond = data.get("respond")
            if respond is not None:
                data["respond"] = Policy(**respond)
            return cls(**data)
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"ingest settings on standard input are not valid: {exc}") from exc


def subscriber_options(settings: WorkerSettings) -> ConnectOptions:
    """The CONNECT options of the subscriber's session.

    Messages come in runs (``message_runs``): a worker takes them by the thousand a second.
    A kept session asks to resume from the very first connect, under both versions: 3.1.1
    knows no other way, and Mosquitto 2.0.11 writes a 5.0 session to its persistence
    database only if its connection asked for clean start 0, so one begun clean would not
    survive a broker restart (``tests/integration/test_broker_restart_persistence.py``).
    The price: a session left under the same client id by an earlier run is resumed too.

    A kept session also acknowledges the broker's QoS 1 messages only once stored
    (``manual_acks``): the broker keeps what is unacknowledged for a worker that dies and for
    the one restarted in its place. Without a kept session nobody would get it again, so
    there it is acknowledged on arrival. Under MQTT 5 such a session states its Receive
    Maximum, the most the broker may have unacknowledged towards it, as 65,535: sent without
    one, Mosquitto 2.0.11 takes its ``max_inflight_messages`` instead of the specification's
    65,535 (``tests/integration/test_broker_inflight_window.py``).
    """
    if not settings.session_expiry_s:
        return ConnectOptions(message_runs=True)
    if settings.mqtt_version is MQTTVersion.V5:
        return ConnectOptions(
            clean_start=False,
            session_expiry_interval=settings.session_expiry_s,
            receive_maximum=MAX_RECEIVE_MAXIMUM,
            message_runs=True,
            manual_acks=True,
        )
    return ConnectOptions(clean_start=False, message_runs=True, manual_acks=True)


class BrokerEndpoint(NamedTuple):
    """Where a worker reaches one broker of the run: TCP, or its Unix socket on this host."""

    host: str
    port: int
    socket_path: str | None = None


def on_each_broker(
    workers: list[WorkerSettings], brokers: Sequence[BrokerEndpoint]
) -> list[WorkerSettings]:
    """The same workers once per broker of a pool, each subscribed on its broker alone.

    A device's connection goes to one broker of the pool only (a function of its index,
    :mod:`simulator.transport.dealing`), so the workers of that broker hear all of the device
    and none of it elsewhere: accounting per device stays exact without a worker holding a
    connection to every broker. The first broker's workers keep their client ids; the others'
    get ``-b<number>`` added, so each worker of the run has a name of its own. Each knows its
    broker's number, so a worker restarted in its place reads back its broker's devices only
    (see :attr:`WorkerSettings.broker_count`).
    """
    if not brokers:
        return list(workers)
    return [
        dataclasses.replace(
            worker,
            host=broker.host,
            port=broker.port,
            socket_path=broker.socket_path,
            client_id=worker.client_id if number == 0 else f"{worker.client_id}-b{number}",
            broker_number=number,
            broker_count=len(brokers),
        )
        for number, broker in enumerate(brokers)
        for worker in workers
    ]
