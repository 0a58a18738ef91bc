"""The platform side of a run, resolved from its scenario: what each ingest worker and the
provisioning responder are told.

The runner starts them; this module only decides their settings, as pure functions of the
scenario, the broker they connect to and the run's identity: the telemetry filter and payload
format, the kept session a restart needs, who answers registrations, how several workers
split the topics, and the credentials and TLS files each one connects with.
"""

from __future__ import annotations

import dataclasses

from simulator.ingest.settings import WorkerSettings
from simulator.mqtt import MQTTVersion
from simulator.payloads.detect import AUTO
from simulator.provisioning import Policy, ResponderSettings, topic_filter
from simulator.scenario import Scenario
from simulator.scenario.broker_url import BrokerAddress
from simulator.scenario.partition import ingest_partitions
from simulator.transport.credentials import Credentials
from simulator.transport.tls import TlsOptions, check_client_files


def ingest_payload(scenario: Scenario) -> str:
    """The payload format ingest decodes: the fleet's one, or detected per message if mixed."""
    formats = {group.payload for group in scenario.fleet.groups}
    return formats.pop() if len(formats) == 1 else AUTO


def platform_connections(scenario: Scenario) -> int:
    """Connections our platform side opens to the broker: one per ingest worker, or the
    provisioning responder's one without ingest."""
    return scenario.ingest.workers if scenario.ingest.enabled else 1


def sparkplug_group_of(scenario: Scenario) -> str | None:
    """The Sparkplug group the fleet's edge nodes publish in (None: no Sparkplug devices)."""
    fleet = scenario.fleet
    if all(group.payload != "sparkplug" for group in fleet.groups):
        return None
    return fleet.sparkplug_group or fleet.enterprise


def topic_filter_for(template: str) -> str:
    """The narrowest ``#`` filter covering every topic the template can render.

    ``factory/{site}/{line}/{device}/telemetry`` gives ``factory/#``; a template whose first
    level is a placeholder gives ``#``.
    """
    fixed: list[str] = []
    for level in template.split("/"):
        if "{" in level:
            break
        fixed.append(level)
    return "/".join([*fixed, "#"])


def our_responder(scenario: Scenario) -> bool:
    """Whether this run answers registrations itself (else a real platform does)."""
    onboarding = scenario.onboarding
    return onboarding.workflow == "register" and onboarding.responder.enabled


def responder_policy(scenario: Scenario) -> Policy:
    """How registrations are answered: refused and ignored shares, from the run's seed."""
    responder = scenario.onboarding.responder
    return Policy(
        scenario.seed,
        responder.reject_share,
        responder.silent_share,
        {"qos": scenario.fleet.qos},
    )


def ingest_session_expiry(scenario: Scenario) -> int:
    """Keep the ingest session when the fleet keeps its own (under 3.1.1 any value keeps it)."""
    if scenario.broker.mqtt_version == "5":
        return scenario.broker.session_expiry_s
    return 0 if scenario.broker.clean_start else 1


def _credentials(
    address: BrokerAddress, name: str, username: str | None, password: str | None
) -> tuple[str | None, str | None]:
    """``username``/``password`` as given, else the broker URL's, rendered for ``name``."""
    if username is None and address.username is not None:
        username, secret = Credentials(address.username, address.password).for_device(name)
        password = secret.decode() if secret is not None else None
    return username, password


def ingest_settings(
    scenario: Scenario, address: BrokerAddress, tls: TlsOptions, *, prefix: str, run_id: str
) -> WorkerSettings:
    """The first ingest worker's settings (see :func:`ingest_workers` for the others).

    The worker's name is the scenario's, its client id the run's (``prefix``); its ``{device}``
    in certificate paths is the name the broker's ACL knows it by. Raises if a TLS file it
    needs is missing.
    """
    name = f"ingest-{scenario.name}-0"
    username, password = _credentials(
        address, name, scenario.ingest.username, scenario.ingest.password
    )
    identity = username if username is not None else name
    if address.tls:
        check_client_files(tls, (identity,))
    files = tls.for_client(identity)
    onboarding = scenario.onboarding
    registers = onboarding.workflow == "register"
    return WorkerSettings(
        host=address.host,
        port=address.port,
        username=username,
        password=password,
        tls=address.tls,
        ca_file=str(files.ca_file) if files.ca_file else None,
        cert_file=str(files.cert_file) if files.cert_file else None,
        key_file=str(files.key_file) if files.key_file else None,
        verify=files.verify,
        topic_filter=topic_filter_for(scenario.fleet.topic),
        # Mosquitto 2.0.11 writes no shared subscription to its database: a run that keeps
        # sessions across a restart subscribes plainly (one worker needs no share).
        share_group=scenario.ingest.share_group if scenario.broker.clean_start else None,
        mqtt_version=MQTTVersion.named(scenario.broker.mqtt_version),
        client_id=f"{prefix}ingest-0",
        keepalive_s=scenario.broker.keepalive_s,
        payload=ingest_payload(scenario),
        qos=scenario.fleet.qos,
        session_expiry_s=ingest_session_expiry(scenario),
        batch_size=scenario.ingest.batch_size,
        batch_max_age_s=scenario.ingest.batch_max_age_ms / 1000,
        read_interval_s=scenario.ingest.read_interval_ms / 1000,
        register_filter=topic_filter(onboarding.register_topic) if registers else None,
        death_filter=topic_filter(onboarding.death_topic)
        if registers and onboarding.death_topic
        else None,
        # The worker hears every registration anyway: it answers them too, on the second
        # core, instead of a responder competing with the devices for the first.
        respond=responder_policy(scenario) if our_responder(scenario) else None,
        sparkplug_group=sparkplug_group_of(scenario),
        sink=scenario.ingest.sink_url,
        run_id=run_id,
        sink_retry_s=scenario.ingest.sink_retry_s,
        sink_busy_timeout_s=scenario.ingest.sqlite_busy_timeout_s,
        store_payloads=scenario.ingest.store_payloads,
        group_starts=tuple(group.start for group in scenario.fleet.groups),
        connection_blocks=tuple(
            (group.start, group.per_connection) for group in scenario.fleet.groups
        ),
    )


def ingest_workers(
    scenario: Scenario, settings: WorkerSettings, prefix: str = ""
) -> list[WorkerSettings]:
    """The settings of each ingest worker: one as given, or several splitting the topics.

    Every worker answers the registrations of its own devices; only the first listens to
    deaths and to Sparkplug traffic, which a topic partition cannot split. Worker ``k``'s
    client id is ``<run prefix>ingest-k``.
    """
    count = scenario.ingest.workers
    if count == 1:
        return [settings]
    parts = ingest_partitions(scenario.fleet, count)
    if len(parts) == 1:
        return [settings]
    return [
        dataclasses.replace(
            settings,
            client_id=f"{prefix}ingest-{k}",
            partition=part,
            worker_index=k,
            death_filter=settings.death_filter if k == 0 else None,
            sparkplug_group=settings.sparkplug_group if k == 0 else None,
        )
        for k, part in enumerate(parts)
    ]


def responder_settings(
    scenario: Scenario, address: BrokerAddress, *, prefix: str
) -> tuple[ResponderSettings, str]:
    """The provisioning responder's settings, and the name its TLS files go by."""
    onboarding = scenario.onboarding
    name = f"provisioning-{scenario.name}-0"
    username, password = _credentials(address, name, None, None)
    settings = ResponderSettings(
        address.host,
        address.port,
        onboarding.register_topic,
        mqtt_version=MQTTVersion.named(scenario.broker.mqtt_version),
        client_id=f"{prefix}provisioning-0",
        policy=responder_policy(scenario),
        keepalive_s=scenario.broker.keepalive_s,
        connect_timeout_s=onboarding.connect_timeout_s,
        username=username,
        password=password,
    )
    return settings, username or name
