"""Prometheus exposition of a run: a collector over the latest totals, and a ``/metrics`` server.

Nothing here runs per message. A scrape calls the provider once, reads the cumulative
:class:`~simulator.metrics.timeseries.Totals` it returns (the snapshot the monitor took last)
and turns it into metric families; the figures are those the live view and the report show.

Every family is named ``factory_sim_<name>``, carries ``role="simulator"`` or
``role="ingest"``, uses base units (seconds) and the usual suffixes (``_total`` on counters,
``_bucket``/``_sum``/``_count`` on histograms). What each role exports:

===================================  =========  =========  ======  ===========================
family                               type       simulator  ingest  from ``Totals``
===================================  =========  =========  ======  ===========================
``devices_target``                   gauge      yes        no      ``devices_target``
``devices_connected``                gauge      yes        no      ``connected``
``devices_onboarded_total``          counter    yes        no      ``onboarded``
``connect_failures_total``           counter    yes        no      ``connect_failed``
``messages_published_total``         counter    yes        no      ``published``
``messages_acked_total``             counter    yes        no      ``acked`` (QoS 1 PUBACKs)
``scheduler_overrun_total``          counter    yes        no      ``overrun``
``connect_duration_seconds``         histogram  yes        no      ``connect_us``
``fault_active{kind}``               gauge      yes        no      ``faults_active``
``messages_received_total``          counter    ingest=    yes     ``received``
``messages_ingested_total``          counter    ingest=    yes     ``ingested`` (distinct)
``messages_duplicated_total``        counter    ingest=    yes     ``duplicated``
``messages_out_of_order_total``      counter    ingest=    yes     ``out_of_order``
``messages_malformed_total``         counter    ingest=    yes     ``malformed``
``messages_lost``                    gauge      ingest=    yes     ``missing`` (gaps so far)
``latency_seconds``                  histogram  ingest=    yes     ``latency_us`` (end to end)
``info``                             info       yes        yes     the ``info`` mapping
``process_*`` (Linux only)           standard   yes        yes     this process's ``/proc``
===================================  =========  =========  ======  ===========================

"ingest=" means the simulator role exports the family when built with ``ingest=True`` (the
default): a run's totals carry what its ingest child reported, so one scrape of the
simulator shows both sides. A run with ingest switched off passes ``ingest=False``, so that
no zero pretends nothing was lost. ``messages_lost`` is a gauge because a gap filled later
stops being lost. Before the run has figures the provider returns ``None`` and only ``info``
and the process families are served.

Histogram buckets have fixed edges in seconds (:data:`LATENCY_BUCKETS_S`,
:data:`CONNECT_BUCKETS_S`), filled with :meth:`Histogram.count_at_or_below` on the
microsecond histograms, so a bucket understates by less than the histogram's relative error;
``+Inf`` is the exact count and ``_sum`` the exact sum.

:class:`MetricsServer` serves a registry holding only this collector (and the process
collector) from a daemon thread started by ``prometheus_client``; scrapes run in that thread,
so the provider must return a snapshot that nobody mutates afterwards, which the monitor's
totals are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

from simulator.errors import MetricsPortError
from simulator.metrics.histogram import Histogram
from simulator.metrics.timeseries import Totals

if TYPE_CHECKING:
    from threading import Thread

PREFIX: Final = "factory_sim_"
"""Prefix of every family this module exports (the process families keep theirs)."""

ROLES: Final = ("simulator", "ingest")
"""The values of the ``role`` label."""

LATENCY_BUCKETS_S: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper edges of the end-to-end latency buckets: loopback sub-millisecond up to a stall."""

CONNECT_BUCKETS_S: Final = (*LATENCY_BUCKETS_S[1:], 30.0)
"""Upper edges of the connect duration buckets: the latency edges from 1 ms, then up to a broker
that makes clients queue."""

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

Provider = Callable[[], Totals | None]
"""Returns the latest totals of the run, or ``None`` before there are any."""


def _redact(value: str) -> str:
    """``value`` without a password, if it is a URL carrying one (broker URLs may)."""
    if "://" not in value or "@" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _buckets(hist: Histogram, edges_s: Iterable[float]) -> list[tuple[str, float]]:
    count, top = hist.count, hist.max
    buckets = []
    for edge in edges_s:
        edge_us = round(edge * 1e6)
        # Every value is at or below an edge past the exact max: skip the scan of the buckets,
        # which is most of a scrape's cost.
        below = count if edge_us >= top else hist.count_at_or_below(edge_us)
        buckets.append((str(edge), float(below)))
    buckets.append(("+Inf", float(count)))
    return buckets


class RunCollector(Collector):
    """A ``prometheus_client`` collector over the run's latest totals, for one role.

    ``info`` becomes the labels of ``factory_sim_info`` (e.g. ``scenario`` and ``broker``; a
    password in a URL value is replaced by ``***``). ``ingest`` says whether the simulator
    role exports the ingest families (see the module's table); the ingest role always does.
    """

    def __init__(
        self,
        provider: Provider,
        role: str = "simulator",
        info: Mapping[str, str] | None = None,
        *,
        ingest: bool = True,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        info = dict(info or {})
        bad = [k for k in info if not _LABEL_NAME.fullmatch(k) or k.startswith("__") or k == "role"]
        if bad:
            raise ValueError(f"info keys must be label names other than 'role', got {bad}")
        self.provider = provider
        self.role = role
        self.info = {key: _redact(value) for key, value in info.items()}
        self.fleet = role == "simulator"
        self.ingest = ingest or role == "ingest"

    def collect(self) -> Iterator[Metric]:
        """The families for the provider's latest totals (read once per scrape)."""
        role = [self.role]
        info = InfoMetricFamily(
            PREFIX.rstrip("_"), "The scenario and broker of this run.", labels=["role"]
        )
        info.add_metric(role, self.info)
        yield info
        totals = self.provider()
        if totals is None:
            return
        if self.fleet:
            yield from self._fleet(totals)
        if self.ingest:
            yield from self._ingest(totals)

    def _gauge(self, name: str, doc: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(PREFIX + name, doc, labels=["role"])
        family.add_metric([self.role], value)
        return family

    def _counter(self, name: str, doc: str, value: float) -> CounterMetricFamily:
        family = CounterMetricFamily(PREFIX + name, doc, labels=["role"])
        family.add_metric([self.role], value)
        return family

    def _histogram(
        self, name: str, doc: str, hist: Histogram, edges_s: Iterable[float]
    ) -> HistogramMetricFamily:
        family = HistogramMetricFamily(PREFIX + name, doc, labels=["role"])
        # The sum from to_dict is the exact integer sum in microseconds, not mean * count.
        family.add_metric([self.role], _buckets(hist, edges_s), hist.to_dict()["sum"] / 1e6)
        return family

    def _fleet(self, t: Totals) -> Iterator[Metric]:
        yield self._gauge("devices_target", "Devices the scenario onboards.", t.devices_target)
        yield self._gauge("devices_connected", "Devices connected now.", t.connected)
        yield self._counter(
            "devices_onboarded_total", "Devices that completed onboarding.", t.onboarded
        )
        yield self._counter(
            "connect_failures_total", "Device connects that failed.", t.connect_failed
        )
        yield self._counter("messages_published_total", "Messages the devices sent.", t.published)
        yield self._counter(
            "messages_acked_total", "QoS 1 messages the broker acknowledged.", t.acked
        )
        yield self._counter(
            "scheduler_overrun_total", "Sends that ran more than a slot late.", t.overrun
        )
        yield self._histogram(
            "connect_duration_seconds",
            "Time from TCP connect to CONNACK per device.",
            t.connect_us,
            CONNECT_BUCKETS_S,
        )
        if t.faults_active:
            family = GaugeMetricFamily(
                PREFIX + "fault_active",
                "Faults of this kind in force now (for annotations: 1 while a window lasts).",
                labels=["role", "kind"],
            )
            for kind, count in sorted(t.faults_active.items()):
                family.add_metric([self.role, kind], count)
            yield family

    def _ingest(self, t: Totals) -> Iterator[Metric]:
        yield self._counter(
            "messages_received_total", "Messages ingest received, duplicates included.", t.received
        )
        yield self._counter(
            "messages_ingested_total", "Distinct messages ingest accounted for.", t.ingested
        )
        yield self._counter(
            "messages_duplicated_total", "Messages ingest had seen before.", t.duplicated
        )
        yield self._counter(
            "messages_out_of_order_total", "Messages that filled an earlier gap.", t.out_of_order
        )
        yield self._counter(
            "messages_malformed_total", "Payloads ingest could not decode.", t.malformed
        )
        yield self._gauge("messages_lost", "Sequence gaps seen and not (yet) filled.", t.missing)
        yield self._histogram(
            "latency_seconds",
            "End-to-end latency from the intended send time to ingest.",
            t.latency_us,
            LATENCY_BUCKETS_S,
        )


class RoleProcessCollector(Collector):
    """The standard ``process_*`` families of this process, with the ``role`` label added.

    Empty where there is no ``/proc`` (not Linux), as ``prometheus_client`` makes it.
    """

    def __init__(self, role: str) -> None:
        self.role = role
        self._process = ProcessCollector(registry=None)

    def collect(self) -> Iterator[Metric]:
        """This process's CPU, memory and file descriptor figures, labelled with the role."""
        for family in self._process.collect():
            family.samples = [
                sample._replace(labels={**sample.labels, "role": self.role})
                for sample in family.samples
            ]
            yield family


class MetricsServer:
    """Serves ``/metrics`` for one role over HTTP on ``host:port`` (port 0: pick a free one).

    ``start()`` listens and serves from a daemon thread; ``port`` is then the real port.
    ``stop()`` shuts the server down, closes the socket and joins the thread. Also a context
    manager. ``ingest`` is passed to :class:`RunCollector`.
    """

    def __init__(
        self,
        provider: Provider,
        port: int,
        host: str = "127.0.0.1",
        role: str = "simulator",
        info: Mapping[str, str] | None = None,
        *,
        ingest: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.registry = CollectorRegistry()
        self.registry.register(RunCollector(provider, role, info, ingest=ingest))
        self.registry.register(RoleProcessCollector(role))
        self._serving: tuple[WSGIServer, Thread] | None = None

    @property
    def url(self) -> str:
        """Where the metrics are served (meaningful once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> None:
        """Listen and serve; raises :class:`MetricsPortError` if the port cannot be bound."""
        if self._serving is not None:
            raise RuntimeError(f"the metrics server is already serving on {self.url}")
        try:
            server, thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as exc:
            raise MetricsPortError.from_os_error(self.host, self.port, exc) from exc
        self._serving = server, thread
        self.port = server.server_port

    def stop(self) -> None:
        """Stop serving and free the port; does nothing if not serving."""
        if self._serving is None:
            return
        server, thread = self._serving
        self._serving = None
        server.shutdown()
        server.server_close()
        thread.join()

    def __enter__(self) -> MetricsServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
