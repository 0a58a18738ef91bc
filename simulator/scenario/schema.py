"""The scenario schema: strict, frozen pydantic models, one per TOML table.

Strictness is the point: unknown keys are errors, ``"10"`` is not an integer, ``true`` is not
``1``, and floats must be finite (TOML allows ``inf`` and ``nan``). An integer is accepted where
a float is expected. Range limits live in ``Field`` constraints so the error translation in
:mod:`simulator.scenario.problems` can state them.

Device model names, payload codec names, topic templates and thresholds are checked against
:mod:`simulator.fleet`, :mod:`simulator.payloads` and :mod:`simulator.report.thresholds`,
imported inside the validators so this module loads without them and they are asked only when
a scenario is validated.

Use :func:`simulator.scenario.loader.load_scenario` to read a file; it fills in ``name`` from
the file's stem and reports every problem at once.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from simulator.errors import ScenarioError, SimulatorError
from simulator.report.thresholds import Threshold, parse_threshold
from simulator.scenario.addresses import parse_address_pool
from simulator.scenario.broker_url import BrokerAddress, broker_url_problem, parse_broker_url
from simulator.scenario.composition import Group, compose
from simulator.scenario.faults import BrokerRestartFault, FaultSettings
from simulator.scenario.gateway import GatewaySettings, SouthboundFaultSettings
from simulator.scenario.problems import describe_value
from simulator.scenario.stages import StageSettings, stage_problems
from simulator.sinks.url import parse_sink_url

if TYPE_CHECKING:
    from simulator.fleet import PlantLayout

MAX_DEVICES = 1_000_000
"""The largest fleet one scenario may describe."""

MAX_DURATION_S = 604_800.0
"""One week: the longest publishing phase a scenario may ask for."""

NAME_PATTERN = re.compile(r"[a-zA-Z0-9._-]{1,64}")
"""What a scenario name may look like; it becomes part of file names such as the SQLite path."""

DEFAULT_TOPIC = "factory/{site}/{line}/{device}/telemetry"
"""The telemetry topic template used when a scenario names none."""

# MQTT 5 section 4.8.2: a ShareName is at least one character and contains none of these.
_SHARE_NAME_FORBIDDEN = frozenset("/+#")


def _check_name(value: str) -> str:
    if NAME_PATTERN.fullmatch(value) is None:
        raise ValueError(
            f"must be 1 to 64 characters from a-z, A-Z, 0-9, '.', '_' and '-', got {value!r}"
        )
    return value


def _check_broker_url(value: str | None) -> str | None:
    if value is not None:
        problem = broker_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


MAX_BROKERS = 64
"""The most brokers one run deals its connections over (``urls`` or ``instances``)."""


def _check_broker_urls(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_BROKERS:
        raise ValueError(f"must list 1 to {MAX_BROKERS} broker URLs, got {len(value)}")
    addresses = []
    for number, url in enumerate(value):
        problem = broker_url_problem(url)
        if problem is not None:
            raise ValueError(f"entry {number}: {problem}")
        addresses.append(parse_broker_url(url))
    first = addresses[0]
    for number, address in enumerate(addresses[1:], start=1):
        if (address.scheme, address.username, address.password) != (
            first.scheme,
            first.username,
            first.password,
        ):
            raise ValueError(
                f"entry {number} ({address.url()!r}) differs from entry 0 ({first.url()!r}) in "
                f"scheme or credentials: every broker of a pool is reached the same way"
            )
    return value


def _check_source_addresses(value: list[str]) -> list[str]:
    if value:
        parse_address_pool(value)
    return value


def _check_qos(value: int) -> int:
    # A Literal[0, 1, 2] would accept ``true`` as 1, so the check is spelled out.
    if value not in (0, 1, 2):
        raise ValueError(f"must be 0, 1 or 2, got {value}")
    return value


def _check_optional_codec(value: str | None) -> str | None:
    return None if value is None else _check_codec(value)


def _check_model(value: str) -> str:
    from simulator.fleet import model_names

    return _one_of(value, model_names())


def _check_codec(value: str) -> str:
    from simulator.payloads import codec_names

    return _one_of(value, codec_names())


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _check_topic(value: str) -> str:
    from simulator.fleet import TopicTemplate

    try:
        TopicTemplate(value)
    except SimulatorError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_optional_topic(value: str) -> str:
    return _check_topic(value) if value else value


def _check_enterprise(value: str) -> str:
    from simulator.fleet.plant import enterprise_problem

    problem = enterprise_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _check_sparkplug_group(value: str | None) -> str | None:
    from simulator.errors import TopicError
    from simulator.payloads.sparkplug import build_topic
    from simulator.payloads.sparkplug.topics import MessageType

    if value is not None:
        try:
            build_topic(MessageType.NBIRTH, value, "edge")
        except TopicError as exc:
            raise ValueError(str(exc).replace("group_id", "a Sparkplug group id")) from None
    return value


def _check_sink_url(value: str) -> str:
    if value:
        parse_sink_url(value)  # its ValueError names the value and the forms allowed
    return value


def _check_share_group(value: str) -> str:
    if not value or _SHARE_NAME_FORBIDDEN & set(value):
        raise ValueError(f"must be non-empty and contain none of '/', '+', '#', got {value!r}")
    return value


_Problem = tuple[tuple[str | int, ...], Any, str]
"""One problem a validator finds: where (the key path), the value given, and why it is wrong."""


def _value_errors(title: str, problems: Iterable[_Problem]) -> ValidationError:
    """Every problem in ``problems`` as one error, each reported at its own key path."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type="value_error", loc=loc, input=value, ctx={"error": why})
            for loc, value, why in problems
        ],
    )


def _value_error(loc: tuple[str | int, ...], value: Any, why: str) -> ValidationError:
    """One problem, ``why``, with ``value`` at key path ``loc``."""
    return _value_errors(str(loc[0]), [(loc, value, why)])


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    # TOML reads an unquoted ``latency_ms.p99 = "< 50"`` as nested tables; report paths nest
    # the same way, so both spellings name the same key.
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _parse_thresholds(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> tuple[Threshold, ...]:
    """The ``[thresholds]`` table, parsed once into thresholds (every problem at once)."""
    if isinstance(value, tuple) and all(isinstance(t, Threshold) for t in value):
        return value  # already parsed: a copy of a validated scenario
    if not isinstance(value, dict):
        raise ValueError(
            'must be a table of "report.key" = "OP LIMIT" strings, e.g. '
            f'"latency_ms.p99" = "< 50"; got {describe_value(value)}'
        )
    source = str((info.context or {}).get("source", "scenario"))
    parsed: list[Threshold] = []
    errors: list[_Problem] = []
    for key, spec in _flatten(value).items():
        messages: list[str] = []
        if not isinstance(spec, str):
            messages.append(
                "must be a string holding an operator and a limit, e.g. "
                f'"< 50" or "== 0"; got {describe_value(spec)}'
            )
        else:
            try:
                parsed.append(parse_threshold(f"{key} {spec}", source))
            except ScenarioError as exc:
                messages.extend(problem.message for problem in exc.problems)
        errors.extend(((key,), spec, message) for message in messages)
    if errors:
        # pydantic nests a ValidationError raised here under this field's location, so each
        # problem is reported at ``thresholds.<key>`` along with every other problem of the file.
        raise _value_errors("thresholds", errors)
    return tuple(parsed)


def _thresholds_table(thresholds: tuple[Threshold, ...]) -> dict[str, str]:
    """Thresholds as the scenario file writes them: key to ``"OP LIMIT"``."""
    return {t.key: t.expr[len(t.key) + 1 :] for t in thresholds}


class _Table(BaseModel):
    """Settings shared by every table: strict types, no unknown keys, immutable once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class BrokerSettings(_Table):
    """``[broker]``: which broker to use and how to talk to it."""

    url: Annotated[str | None, AfterValidator(_check_broker_url)] = None
    """``mqtt://host[:port]``; ``None`` (and no ``urls``) means start a local Mosquitto from
    ``broker_config/``."""
    urls: Annotated[list[str] | None, AfterValidator(_check_broker_urls)] = None
    """A pool of brokers, or the nodes of one cluster: connection ``i`` goes to
    ``urls[i mod K]``. Each is checked as ``url`` is; all share scheme and credentials."""
    cluster: bool = False
    """``urls`` are nodes of one cluster, where a subscription on one node hears every node:
    ingest subscribes on the first only. false: independent brokers, ingest on each."""
    instances: Annotated[int, Field(ge=1, le=MAX_BROKERS)] = 1
    """Local Mosquitto processes to start (without ``url``/``urls``), each on its own port,
    the fleet's connections dealt over them as over ``urls``."""
    mqtt_version: Literal["3.1.1", "5"] = "5"
    """MQTT protocol version every client speaks."""
    keepalive_s: Annotated[int, Field(ge=0, le=65535)] = 60
    """CONNECT keep-alive in seconds; 0 turns keep-alive off."""
    clean_start: bool = True
    """Start every connection with a fresh session (false: resume the broker's session)."""
    session_expiry_s: Annotated[int, Field(ge=0, le=4_294_967_295)] = 0
    """MQTT 5: how long the broker keeps a session after its connection drops."""
    topic_aliases: bool = False
    """MQTT 5: after its first message, a device sends a 2-byte alias instead of its topic."""

    @model_validator(mode="after")
    def _one_way_to_brokers(self) -> BrokerSettings:
        if self.url is not None and self.urls is not None:
            raise ValueError("give url (one broker) or urls (several), not both")
        if self.instances != 1 and (self.url is not None or self.urls is not None):
            raise ValueError(
                f"instances = {self.instances} starts local brokers; it cannot go with "
                f"url or urls, which name brokers already running"
            )
        if self.cluster and self.urls is None:
            raise ValueError("cluster = true describes the brokers of urls; give urls")
        return self

    @model_validator(mode="after")
    def _mqtt5_only(self) -> BrokerSettings:
        if self.mqtt_version != "5":
            used = [key for key in ("session_expiry_s", "topic_aliases") if getattr(self, key)]
            if used:
                raise ValueError(
                    f'{" and ".join(used)} need mqtt_version = "5"; MQTT 3.1.1 has neither'
                )
        return self

    @property
    def address(self) -> BrokerAddress | None:
        """The parsed ``url`` (the first of ``urls``), or ``None`` when local brokers are to
        be started."""
        addresses = self.addresses
        return addresses[0] if addresses else None

    @property
    def addresses(self) -> tuple[BrokerAddress, ...]:
        """The parsed ``url`` or ``urls``; empty when local brokers are to be started."""
        if self.urls is not None:
            return tuple(parse_broker_url(url) for url in self.urls)
        return () if self.url is None else (parse_broker_url(self.url),)


class WillSettings(_Table):
    """``[fleet.will]``: the message the broker publishes when a device vanishes."""

    topic: Annotated[str, AfterValidator(_check_topic)] = "factory/{site}/{line}/{device}/status"
    """Topic template, as ``fleet.topic``."""
    payload: str = "offline"
    """UTF-8 payload."""
    qos: Annotated[int, AfterValidator(_check_qos)] = 1
    """QoS of the will: 0, 1 or 2."""
    retain: bool = True
    """Whether the broker keeps the will as the topic's retained message."""
    delay_s: Annotated[int, Field(ge=0, le=4_294_967_295)] = 0
    """MQTT 5: how long the broker waits before publishing it (a quick reconnect cancels)."""


class MixSettings(_Table):
    """One ``[[fleet.mix]]`` entry: a model's part of the fleet, and how it publishes."""

    model: Annotated[str, AfterValidator(_check_model)]
    """Device model, one of :func:`simulator.fleet.model_names`."""
    share: Annotated[float | None, Field(gt=0.0, le=1.0)] = None
    """Fraction of the devices the counts leave (give ``share`` or ``count``)."""
    count: Annotated[int | None, Field(ge=1, le=MAX_DEVICES)] = None
    """Exact number of devices (give ``share`` or ``count``)."""
    publish_interval_s: Annotated[float | None, Field(ge=0.001, le=86_400.0)] = None
    """This model's interval; default ``fleet.publish_interval_s``."""
    payload: Annotated[str | None, AfterValidator(_check_optional_codec)] = None
    """This model's payload format; default ``fleet.payload``."""
    devices_per_connection: Annotated[int | None, Field(ge=1, le=100_000)] = None
    """This model's devices per connection (1: direct, more: behind gateways); default
    ``fleet.devices_per_connection``. Mixing both in one fleet is what a real plant has."""

    @model_validator(mode="after")
    def _share_or_count(self) -> MixSettings:
        if (self.share is None) == (self.count is None):
            raise ValueError("give exactly one of share (a fraction) or count (devices)")
        return self


class FleetSettings(_Table):
    """``[fleet]``: how many devices, what they are, and what and how often they publish."""

    devices: Annotated[int, Field(ge=1, le=MAX_DEVICES)]
    """Number of simulated devices."""
    publish_interval_s: Annotated[float, Field(ge=0.001, le=86_400.0)]
    """Seconds between two telemetry messages of one device."""
    model: Annotated[str, AfterValidator(_check_model), Field(validate_default=True)] = (
        "machine-sensor"
    )
    """Device model, one of :func:`simulator.fleet.model_names`."""
    payload: Annotated[str, AfterValidator(_check_codec), Field(validate_default=True)] = "msgpack"
    """Payload codec, one of :func:`simulator.payloads.codec_names`."""
    qos: Annotated[int, AfterValidator(_check_qos)] = 0
    """QoS of telemetry publishes: 0, 1 or 2."""
    topic: Annotated[str, AfterValidator(_check_topic), Field(validate_default=True)] = (
        DEFAULT_TOPIC
    )
    """Topic template, checked by :class:`simulator.fleet.TopicTemplate`."""
    sites: Annotated[int, Field(ge=1)] = 2
    """Sites in the plant hierarchy; devices are spread over them."""
    lines_per_site: Annotated[int, Field(ge=1)] = 4
    """Production lines per site."""
    enterprise: Annotated[str, AfterValidator(_check_enterprise)] = "acme"
    """The enterprise owning the sites (``{enterprise}`` in topics)."""
    areas_per_site: Annotated[int, Field(ge=1)] = 1
    """Areas the lines of a site are grouped into (``{area}``); at most ``lines_per_site``."""
    cells_per_line: Annotated[int, Field(ge=1)] = 1
    """Work cells per line (``{cell}``); devices are spread over them too."""
    will: WillSettings | None = None
    """A last will per connection (``[fleet.will]``); none by default."""
    mix: list[MixSettings] = []
    """``[[fleet.mix]]``: models by share or count; empty means every device is ``model``."""
    devices_per_connection: Annotated[int, Field(ge=1, le=100_000)] = 1
    """1: every device has its own connection; N > 1: devices sit behind gateways, N per
    connection (the last gateway may carry fewer)."""
    messages_per_device: Annotated[int | None, Field(ge=1)] = None
    """Each device sends exactly this many messages, then stops; publishing ends once every
    device admitted has sent them, or ``duration_s`` after onboarding at the latest. A run's
    count is then exact, whatever its timing (how slices are checked against one process).
    None: every device publishes for ``duration_s`` after the fleet onboarded."""
    sparkplug_group: Annotated[str | None, AfterValidator(_check_sparkplug_group)] = None
    """Sparkplug B ``group_id`` of the edge nodes (every connection carrying a device with the
    ``sparkplug`` payload); default: ``enterprise``. One group for the plant, not one per site:
    devices are dealt to sites round-robin, so a gateway carries devices of every site."""

    @model_validator(mode="after")
    def _every_area_has_a_line(self) -> FleetSettings:
        if self.areas_per_site > self.lines_per_site:
            raise ValueError(
                f"areas_per_site ({self.areas_per_site}) must be at most lines_per_site "
                f"({self.lines_per_site}): every area needs a line"
            )
        return self

    @model_validator(mode="after")
    def _mix_adds_up(self) -> FleetSettings:
        _ = self.groups  # raises ValueError naming what does not add up
        return self

    @functools.cached_property
    def plant(self) -> PlantLayout:
        """The plant's layout, ids prefixed with the fleet's model's (each group re-prefixes)."""
        from simulator.fleet import PlantLayout, get_model

        return PlantLayout(
            self.sites,
            self.lines_per_site,
            get_model(self.model).id_prefix,
            enterprise=self.enterprise,
            areas_per_site=self.areas_per_site,
            cells_per_line=self.cells_per_line,
        )

    @functools.cached_property
    def groups(self) -> tuple[Group, ...]:
        """The fleet as blocks of devices by model, interval and payload format: composed
        once, when the settings are validated, and kept (the settings never change)."""
        return compose(
            self.devices,
            self.mix,
            model=self.model,
            payload=self.payload,
            interval_s=self.publish_interval_s,
            per_connection=self.devices_per_connection,
        )


class ResponderSettings(_Table):
    """``[onboarding.responder]``: the platform side of registration this project ships."""

    enabled: bool = True
    """Start the provisioning responder; false when a real platform answers registrations."""
    reject_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Share of devices it refuses (chosen from the seed, the same devices every run)."""
    silent_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Share of devices it never answers, so their registration times out."""

    @model_validator(mode="after")
    def _shares_fit(self) -> ResponderSettings:
        if self.reject_share + self.silent_share > 1.0:
            raise ValueError(
                f"reject_share ({self.reject_share:g}) plus silent_share "
                f"({self.silent_share:g}) must be at most 1"
            )
        return self


class OnboardingSettings(_Table):
    """``[onboarding]``: how fast the fleet connects and how a device announces itself."""

    rate_per_s: Annotated[float, Field(gt=0.0, le=100_000.0)] = 2000.0
    """Connects started per second."""
    max_in_flight: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Connects (TCP plus CONNACK) pending at once; Mosquitto's listen backlog is 100."""
    connect_timeout_s: Annotated[float, Field(gt=0.0, le=600.0)] = 10.0
    """How long one connect may take before it counts as failed."""
    source_addresses: Annotated[list[str], AfterValidator(_check_source_addresses)] = []
    """Local addresses the fleet's connections are bound to, dealt by connection index:
    single addresses and ranges ``"127.0.0.2-127.0.0.40"``, so one machine opens more than the
    ~28,000 ephemeral ports one (source, broker) pair has. Empty: the system chooses (and
    a fleet too large for one address towards a loopback broker gets 127.0.x.y addresses)."""
    connect_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    """Tries of a device's (or gateway's) first connect before it fails for good: one that
    times out, is refused or reset is tried again after the reconnect backoff
    (``reconnect_min_s`` doubling up to ``reconnect_max_s``, jittered), as a real device
    retries; counted in the funnel's ``retries``. 1: never again."""
    reconnect: bool = True
    """Whether a dropped connection comes back (exponential, jittered backoff)."""
    reconnect_min_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 0.5
    """First reconnect delay; it doubles per failed attempt, jittered to 50-100 %."""
    reconnect_max_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 30.0
    """Longest reconnect delay."""
    workflow: Literal["connect", "register"] = "connect"
    """``connect``: a device publishes from its CONNACK on. ``register``: it subscribes to its
    reply topic, announces itself on its registration topic, and publishes only once the
    platform has accepted it (again after every reconnect)."""
    register_topic: Annotated[str, AfterValidator(_check_topic)] = "onboarding/{device}/register"
    """Where a connection's devices register; ``{device}`` is the connection's client id."""
    reply_topic: Annotated[str, AfterValidator(_check_topic)] = "onboarding/{device}/config"
    """Where the platform answers a connection's devices; ``{device}`` as above."""
    death_topic: Annotated[str, AfterValidator(_check_optional_topic)] = "onboarding/{device}/death"
    """Where a connection's registered devices die (``register`` workflow, connections without
    Sparkplug devices, which have NDEATH and DDEATH): one death per device before an
    intentional disconnect, and the connection's MQTT will naming all its devices unless
    ``[fleet.will]`` is set (a connection has one will). ``{device}`` as above; empty: none."""
    register_timeout_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 10.0
    """How long a device waits for its SUBACK, and for each answer to its registration."""
    register_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    """How many times a device sends its registration before it gives up (a platform that is
    restarting, or a responder that reconnects later than its devices, misses some)."""
    responder: ResponderSettings = ResponderSettings()

    @property
    def source_pool(self) -> tuple[str, ...]:
        """``source_addresses`` with ranges expanded (empty: none given)."""
        return parse_address_pool(self.source_addresses) if self.source_addresses else ()


class IngestSettings(_Table):
    """``[ingest]``: the subscriber that accounts for every message and stores it."""

    enabled: bool = True
    """Whether to run the ingest worker at all."""
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Rows per write to the sink."""
    batch_max_age_ms: Annotated[int, Field(ge=1, le=60_000)] = 250
    """Longest a partial batch waits before it is written anyway."""
    read_interval_ms: Annotated[float, Field(ge=0.0, le=100.0)] = 2.0
    """While messages come faster, each worker reads its connection at most once this often,
    the kernel gathering what arrives meanwhile: fewer wake-ups for the worker and the broker
    (a busy worker's messages wait at most this long, and their latency includes it); 0 reads
    whenever data arrives. A message after a quiet spell is read at once either way."""
    unix_socket: bool = True
    """With a broker the run starts itself (no ``broker.url``), the workers connect to it over
    a Unix socket it also listens on, not TCP: the same messages for a fifth less of the
    broker's CPU a message (docs/PERFORMANCE.md). The fleet stays on TCP either way; false
    keeps ingest on TCP too. A broker given by URL is always reached over TCP."""
    sqlite_path: str = ""
    """SQLite file; the scenario fills in ``runs/<name>.sqlite`` when this is empty."""
    sink: Annotated[str, AfterValidator(_check_sink_url)] = ""
    """Where rows go, as a URL: ``sqlite:///PATH`` or ``postgresql://user:pass@host:port/db``;
    empty: the SQLite file ``sqlite_path``."""
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    """Ingest worker processes. Several split the telemetry topics between them (each device
    to one worker, so accounting stays exact) and all answer registrations."""
    sink_retry_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 30.0
    """How long a failing sink (disk full, database locked or gone) is retried before the rows
    it could not store count as lost."""
    sqlite_busy_timeout_s: Annotated[float, Field(ge=0.0, le=3600.0)] = 10.0
    """How long SQLite waits for a lock another process holds on the file."""
    store_payloads: bool = False
    """Also store each message's payload bytes. The decoded values are stored either way (as
    JSON, queryable) and say all a well-formed payload does, so by default ``payload`` is NULL
    and a row costs less to write; malformed messages always keep their bytes."""
    drain_timeout_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 15.0
    """After publishing stops, how long to wait for ingest to catch up."""
    share_group: Annotated[str, AfterValidator(_check_share_group)] = "ingest"
    """MQTT 5 shared subscription group name (``$share/<group>/...``). Not used when
    ``broker.clean_start`` is false: Mosquitto does not keep shared subscriptions across a
    restart, so a run that keeps sessions subscribes its one worker plainly."""
    username: str | None = None
    """User name of the ingest worker; None: the broker URL's, with ``{device}`` as its id."""
    password: str | None = None
    """Password of the ingest worker (with ``username``)."""

    @property
    def sink_url(self) -> str:
        """Where rows go: ``sink``, else the SQLite file ``sqlite_path``."""
        return self.sink or f"sqlite:///{self.sqlite_path}"


MAX_UNITS_PER_PORT = 247
"""Modbus unit ids 1 to 247 address devices behind one endpoint."""


def _check_hosts(value: list[str]) -> list[str]:
    if not value:
        raise ValueError('must name at least one local address, e.g. ["127.0.0.1"]')
    for host in value:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"must be IP addresses, e.g. 127.0.0.2; got {host!r}") from None
    if len(set(value)) != len(value):
        raise ValueError("must not name an address twice")
    return value


def _check_ports(value: list[int]) -> list[int]:
    if any(not 1 <= port <= 65535 for port in value):
        raise ValueError(f"must be ports from 1 to 65535, got {value}")
    if len(set(value)) != len(value):
        raise ValueError("must not name a port twice")
    return value


class OpcuaSettings(_Table):
    """``[southbound.opcua]``: the fleet as OPC UA servers, a folder per device and a variable
    per signal (node id ``ns=<namespace>;s=<device id>.<signal>``). The devices are split into
    ``servers`` blocks of consecutive devices; server ``j`` listens on the address
    ``hosts[j % len(hosts)]`` and the port ``port + j // len(hosts)``."""

    port: Annotated[int, Field(ge=0, le=65535)] = 4840
    """First port (4840 is OPC UA's own); 0: ports the system picks (printed and written to
    the hint file)."""
    servers: Annotated[int, Field(ge=1, le=1000)] = 1
    """How many servers share the fleet."""
    namespace: Annotated[str, Field(min_length=1, max_length=200)] = "urn:factory-sim:devices"
    """The namespace URI of the devices' nodes."""
    process: Literal["own", "shared"] = "own"
    """Where the OPC UA servers run: ``"own"``, a child process of their own (a core of
    their own: serving a Read costs asyncua tens of µs per value, which in one thread with
    the Modbus servers and the gateway check made whole-server reads miss a 1 s poll), or
    ``"shared"``, the one loop of ``factory-sim southbound`` (no second process; the clock
    can be injected, as tests do)."""

    def endpoints(self, hosts: list[str]) -> list[tuple[str, int]]:
        """The (host, port) of each server, in order."""
        return [
            (hosts[j % len(hosts)], self.port + j // len(hosts) if self.port else 0)
            for j in range(self.servers)
        ]

    @model_validator(mode="after")
    def _ports_fit(self) -> OpcuaSettings:
        if self.port and self.port + self.servers - 1 > 65535:
            raise ValueError(f"{self.servers} servers from port {self.port} go beyond 65535")
        return self


class SouthboundSettings(_Table):
    """``[southbound]``: the fleet as simulated field devices a gateway polls
    (``factory-sim southbound``). Over Modbus TCP device ``i`` is unit
    ``i % devices_per_port + 1`` of endpoint ``i // devices_per_port``; endpoints take the
    addresses in ``hosts`` in turn, then the next port. Over OPC UA see ``[southbound.opcua]``."""

    protocol: Literal["modbus", "opcua", "modbus+opcua"] = "modbus"
    """Which servers show the fleet: Modbus TCP, OPC UA, or both at once (the same values)."""
    opcua: OpcuaSettings = OpcuaSettings()
    """Where the OPC UA servers listen (used when ``protocol`` includes opcua)."""
    hosts: Annotated[list[str], AfterValidator(_check_hosts)] = ["127.0.0.1"]
    """Local IP addresses to listen on (several spread devices over addresses, as a plant's
    PLCs each have their own; 127.0.0.2 and up are local on Linux)."""
    port: Annotated[int, Field(ge=0, le=65535)] = 5020
    """First port; the fleet uses as many consecutive ports as it needs. 0: ports the system
    picks (the command prints them and writes them to the hint file)."""
    ports: Annotated[list[int], AfterValidator(_check_ports)] = []
    """The ports to use instead of consecutive ones from ``port``; there must be enough."""
    devices_per_port: Annotated[int, Field(ge=1, le=MAX_UNITS_PER_PORT)] = MAX_UNITS_PER_PORT
    """Devices (unit ids from 1) behind each address and port."""
    update_s: Annotated[float | None, Field(ge=0.001, le=86_400.0)] = None
    """How often a device's registers change: they show its model's sample for step
    ``floor(t / update_s)``. Default: each device's publish interval."""
    word_order: Literal["big", "little"] = "big"
    """Which register of a 32-bit value comes first: the high word ("big", as most devices do)
    or the low one ("little"). Bytes within a register are always big-endian."""
    modbus_devices: Annotated[int | None, Field(ge=1)] = None
    """With ``protocol = "modbus+opcua"``: the first this many devices are served over Modbus
    TCP only and the others over OPC UA only. Unset: every device both ways."""
    faults: list[SouthboundFaultSettings] = []
    """``[[southbound.faults]]``: devices that fall silent, answer slowly or with an exception,
    and server restarts, each from ``at_s`` for ``duration_s``. Over OPC UA a silent device's
    values turn Bad (null) until it ends; slow and exception are Modbus answers, for devices
    served over Modbus only."""

    @model_validator(mode="after")
    def _port_or_ports(self) -> SouthboundSettings:
        if self.ports and "port" in self.model_fields_set:
            raise ValueError("give port (the first of consecutive ports) or ports, not both")
        if self.modbus_devices is not None and self.protocol != "modbus+opcua":
            raise ValueError(
                'modbus_devices splits the fleet between protocol = "modbus+opcua"\'s two '
                f"servers; with {self.protocol!r} leave it out"
            )
        return self

    def modbus_range(self, devices: int) -> range:
        """Which of a fleet of ``devices`` the Modbus TCP server shows (maybe none)."""
        if "modbus" not in self.protocol:
            return range(0)
        return range(min(devices, self.modbus_devices or devices))

    def opcua_range(self, devices: int) -> range:
        """Which of a fleet of ``devices`` the OPC UA servers show (maybe none)."""
        if "opcua" not in self.protocol:
            return range(0)
        if self.protocol == "modbus+opcua" and self.modbus_devices is not None:
            return range(min(devices, self.modbus_devices), devices)
        return range(devices)

    def endpoints(self, devices: int) -> list[tuple[str, int]]:
        """The (host, port) of each endpoint ``devices`` devices need, in order.

        Raises ValueError (a message fit for a scenario problem) when they do not fit.
        """
        needed = -(-devices // self.devices_per_port)
        hosts = self.hosts
        rounds = -(-needed // len(hosts))
        if self.ports:
            if rounds > len(self.ports):
                raise ValueError(
                    f"{devices} devices at {self.devices_per_port} per port need {needed} "
                    f"endpoints; {len(self.ports)} ports on {len(hosts)} hosts give "
                    f"{len(self.ports) * len(hosts)}"
                )
            ports = self.ports[:rounds]
        elif self.port == 0:
            ports = [0] * rounds
        else:
            if self.port + rounds - 1 > 65535:
                raise ValueError(
                    f"{devices} devices need ports {self.port} to {self.port + rounds - 1}, "
                    "beyond 65535"
                )
            ports = list(range(self.port, self.port + rounds))
        return [(host, port) for port in ports for host in hosts][:needed]


class Scenario(_Table):
    """A whole scenario: one validated, immutable description of a run."""

    name: Annotated[str, AfterValidator(_check_name)]
    """Scenario name; the loader defaults it to the file's stem."""
    seed: Annotated[int, Field(ge=0)] = 1
    """Seed for every pseudo-random choice, so a run can be repeated."""
    duration_s: Annotated[float, Field(gt=0.0, le=MAX_DURATION_S)]
    """How long the fleet publishes once the whole fleet is onboarded."""
    broker: BrokerSettings = BrokerSettings()
    fleet: FleetSettings
    onboarding: OnboardingSettings = OnboardingSettings()
    ingest: IngestSettings = IngestSettings()
    southbound: SouthboundSettings = SouthboundSettings()
    """Where ``factory-sim southbound`` serves the fleet as Modbus TCP and OPC UA devices."""
    gateway: GatewaySettings = GatewaySettings()
    """What the gateway under test publishes north, checked by ``southbound --broker``."""
    faults: list[FaultSettings] = []
    """``[[faults]]``: what goes wrong during the run, and when (see
    :mod:`simulator.scenario.faults`)."""
    stages: list[StageSettings] = []
    """``[[stages]]``: devices and offered message rate ramped over time (see
    :mod:`simulator.scenario.stages`); with stages the run lasts their total, which
    ``duration_s`` defaults to."""
    thresholds: Annotated[
        tuple[Threshold, ...],
        WrapValidator(_parse_thresholds),
        PlainSerializer(_thresholds_table),
    ] = ()
    """``[thresholds]``: report key to ``"OP LIMIT"``, e.g. ``"latency_ms.p99" = "< 50"``,
    parsed once here; the run fails its gate when any does not hold (see
    :mod:`simulator.report.thresholds`)."""

    @model_validator(mode="before")
    @classmethod
    def _default_sqlite_path(cls, data: Any) -> Any:
        # The default depends on the name, which the ingest table cannot see, so it is filled in
        # here before validation rather than patched onto a frozen model afterwards.
        if not isinstance(data, dict):
            return data
        stages = data.get("stages")
        if isinstance(stages, list) and "duration_s" not in data:
            # With stages the run lasts their total: the duration follows from them.
            spans = [s.get("duration_s") for s in stages if isinstance(s, dict)]
            numbers = [float(span) for span in spans if isinstance(span, (int, float))]
            if numbers and len(numbers) == len(spans):
                data = {**data, "duration_s": float(sum(numbers))}
        name = data.get("name")
        ingest = data.get("ingest", {})
        if (
            isinstance(name, str)
            and isinstance(ingest, dict)
            and ingest.get("sqlite_path", "") == ""
        ):
            return {**data, "ingest": {**ingest, "sqlite_path": f"runs/{name}.sqlite"}}
        return data

    @model_validator(mode="after")
    def _responder_reaches_every_broker(self) -> Scenario:
        broker = self.broker
        brokers = 1 if broker.cluster else len(broker.urls or ()) or broker.instances
        onboarding = self.onboarding
        if (
            brokers > 1
            and not self.ingest.enabled
            and onboarding.workflow == "register"
            and onboarding.responder.enabled
        ):
            # The responder is one connection: registrations on the other brokers would go
            # unanswered. Ingest runs a worker on each broker, and answers there.
            raise _value_error(
                ("ingest", "enabled"),
                False,
                f"the register workflow over {brokers} brokers needs ingest, which answers "
                "registrations on each broker",
            ) from None
        return self

    @model_validator(mode="after")
    def _stages_fit(self) -> Scenario:
        if not self.stages:
            return self
        found = stage_problems(self.stages, self.fleet.groups, self.fleet.devices)
        total = sum(stage.duration_s for stage in self.stages)
        if not math.isclose(self.duration_s, total):
            found.append(
                (
                    ("duration_s",),
                    self.duration_s,
                    f"with [[stages]] the run lasts their total, {total:g} s: leave it out",
                )
            )
        if self.fleet.messages_per_device is not None:
            found.append(
                (
                    ("fleet", "messages_per_device"),
                    self.fleet.messages_per_device,
                    "cannot be combined with [[stages]], whose rates say what is sent",
                )
            )
        if "rate_per_s" in self.onboarding.model_fields_set:
            found.append(
                (
                    ("onboarding", "rate_per_s"),
                    self.onboarding.rate_per_s,
                    "cannot be combined with [[stages]]: devices connect as the stages ramp",
                )
            )
        if found:
            raise _value_errors("stages", found) from None
        return self

    @model_validator(mode="after")
    def _slow_sink_has_a_sink(self) -> Scenario:
        for number, fault in enumerate(self.faults):
            if fault.kind == "slow_sink" and not self.ingest.enabled:
                raise _value_error(
                    ("faults", number, "kind"),
                    fault.kind,
                    "slow_sink slows the run's ingest: [ingest] is off",
                ) from None
        return self

    @model_validator(mode="after")
    def _restart_is_possible(self) -> Scenario:
        external = self.broker.url is not None or self.broker.urls is not None
        for number, fault in enumerate(self.faults):
            if not isinstance(fault, BrokerRestartFault) or external == (fault.command is not None):
                continue
            said = (
                "an external broker is restarted by a command: give the shell command that "
                "restarts it (and returns once it is back)"
                if external
                else "the local broker is restarted by the run: command is for an external broker"
            )
            raise _value_error(("faults", number, "command"), fault.command, said) from None
        return self

    @model_validator(mode="after")
    def _southbound_fits(self) -> Scenario:
        southbound = self.southbound
        devices = self.fleet.devices
        if southbound.modbus_devices is not None and southbound.modbus_devices >= devices:
            raise _value_error(
                ("southbound", "modbus_devices"),
                southbound.modbus_devices,
                f"must leave devices for OPC UA: below the fleet's {devices}",
            )
        try:
            southbound.endpoints(len(southbound.modbus_range(devices)) or 1)
        except ValueError as exc:
            key = "ports" if southbound.ports else "port"
            raise _value_error(("southbound", key), getattr(southbound, key), str(exc)) from None
        modbus = southbound.modbus_range(devices)
        for number, fault in enumerate(southbound.faults):
            beyond = [index for index in fault.devices if index >= devices]
            if beyond:
                raise _value_error(
                    ("southbound", "faults", number, "devices"),
                    fault.devices,
                    f"devices {beyond} are not in a fleet of {devices} (indexes 0..{devices - 1})",
                )
            if fault.kind in ("slow", "exception") and not modbus:
                raise _value_error(
                    ("southbound", "faults", number, "kind"),
                    fault.kind,
                    f"{fault.kind} is a Modbus answer and protocol = {southbound.protocol!r} "
                    "serves no device over Modbus; OPC UA devices take silent (their values "
                    "turn Bad) or restart",
                )
            if fault.kind in ("slow", "exception") and fault.devices:
                opcua_only = [index for index in fault.devices if index not in modbus]
                if opcua_only and modbus.stop < devices:
                    raise _value_error(
                        ("southbound", "faults", number, "devices"),
                        fault.devices,
                        f"devices {opcua_only} are served over OPC UA only (modbus_devices = "
                        f"{modbus.stop}); {fault.kind} acts on Modbus devices 0.."
                        f"{modbus.stop - 1}, silent and restart on any",
                    )
        return self
