"""The ingest worker: subscribe, decode, account for every message, batch, hand to the writer.

It is one MQTT subscriber connection (what it subscribes to, with its fallbacks, is
:mod:`.subscriptions`'s) kept by a
:class:`~simulator.transport.subscriber.Subscriber`, as the provisioning responder's is:
capabilities checked against the CONNACK, keepalive at the broker's Server Keep Alive,
reconnects with the fleet's backoff. Each message is decoded, classified by the accounting (in
order, lost, duplicated, out of order, latency) and added to the batcher; a full or old batch
goes to the :class:`~simulator.ingest.writer.SinkWriter`, which stores it on its own thread and
counts it only once committed. If the sink falls behind by more than ``max_pending_batches``,
the worker pauses reading and lets TCP push back on the broker instead of buffering without
bound. A payload that does not decode is counted and kept aside in the sink's malformed table,
never a crash.

On a kept session the worker acknowledges the broker's QoS 1 messages only once their rows
are committed (``manual_acks``, see :func:`subscriber_options`), so a worker killed before
its commit gets them again from the broker, in its successor if need be. Messages that make
no row (a duplicate's row is stored all the same; a registration, a death, a malformed
payload) are released with the rows around them: PUBACKs go in arrival order (see
:mod:`.acks`). With acks waiting for commits the open batch goes to an idle writer once it
has gathered rows for 20 ms (group commit), not only when full or old, so a message waits
about that and one commit for its PUBACK, and the broker's window of unacknowledged messages
does not throttle the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from simulator.errors import (
    BrokerCapabilityError,
    PayloadError,
    RemoteProtocolError,
)
from simulator.ingest.accounting import Accounting, device_index
from simulator.ingest.acks import CommitAcks
from simulator.ingest.batcher import Batcher
from simulator.ingest.deaths import DeathsHeard
from simulator.ingest.first_telemetry import FirstTelemetry
from simulator.ingest.reading import ReadPacing
from simulator.ingest.settings import WorkerSettings, subscriber_options
from simulator.ingest.sparkplug import SparkplugTraffic
from simulator.ingest.subscriptions import Subscriptions
from simulator.ingest.writer import SinkWriter
from simulator.metrics.ingest import GroupIngest, IngestSnapshot
from simulator.mqtt import (
    ClientSession,
    Event,
    MessageReceived,
    MessagesReceived,
    Publish,
)
from simulator.mqtt.topics import TopicFilter
from simulator.payloads import get_codec
from simulator.payloads.codec import Telemetry
from simulator.payloads.detect import AUTO, DetectingDecoder
from simulator.payloads.registration import Registration, decode_registration
from simulator.provisioning.provisioner import Provisioner
from simulator.sinks import Malformed, Row, Sink, StoredDevice
from simulator.transport.connection import MqttLink
from simulator.transport.dealing import broker_of_device
from simulator.transport.subscriber import Subscriber
from simulator.transport.tls import TlsOptions, client_context

GROUP_COMMIT_S = 0.02
"""With acks waiting for commits: how long the open batch gathers rows before an idle writer
takes it, full or not. Short, so the broker's window of unacknowledged messages is not held
for a whole ``batch_max_age``; not shorter, since a transaction per read (tens of rows at
20,000 msg/s) cost the worker so much that it fell behind (docs/DECISIONS.md)."""


class IngestWorker:
    """One subscriber connection feeding accounting, batcher and sink.

    The worker keeps one :class:`~simulator.mqtt.ClientSession` for its whole life and puts
    each new connection on it, so a kept session is resumed with its state: the broker
    resends what it had in flight to us (counted as duplicates if we had it already), and
    QoS 2 packet ids we acknowledged before a drop are still known after it.
    """

    def __init__(
        self,
        settings: WorkerSettings,
        sink: Sink,
        *,
        loop: asyncio.AbstractEventLoop,
        wall_ns: Callable[[], int],
        sink_display: str = "",
        group_commit_s: float = GROUP_COMMIT_S,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.sink_display = sink_display
        """Where the rows go, as the report shows it (password masked)."""
        self.accounting = Accounting(group_starts=settings.group_starts)
        self.first_telemetry = FirstTelemetry(self.accounting.knows)
        self._register = (
            TopicFilter(settings.register_filter) if settings.register_filter is not None else None
        )
        self._death = (
            TopicFilter(settings.death_filter) if settings.death_filter is not None else None
        )
        self._partition = frozenset(settings.partition)
        """This worker's telemetry filters; a device is its own if its topic, with the
        device's level as ``+``, is one of them."""
        self._device_levels = (
            [i for i, level in enumerate(settings.partition[0].split("/")) if level == "+"]
            if settings.partition
            else []
        )
        self.deaths = DeathsHeard()
        """Device deaths heard (fed only with ``death_filter``)."""
        self.sparkplug = (
            SparkplugTraffic(settings.sparkplug_group) if settings.sparkplug_group else None
        )
        """Sparkplug B births, deaths and commands seen (with ``sparkplug_group``)."""
        """The onboarding funnel's last stage (fed only with ``register_filter``)."""
        self.provisioner: Provisioner | None = None
        if settings.respond is not None and settings.register_filter is not None:
            self.provisioner = Provisioner(settings.respond, settings.mqtt_version)
        self.notes: list[str] = []
        """Things the worker worked around and the user should know (said, not hidden)."""
        self._loop = loop
        self._wall_ns = wall_ns
        self._codec = (
            DetectingDecoder() if settings.payload == AUTO else get_codec(settings.payload)
        )
        self._batcher: Batcher[Row] = Batcher(settings.batch_size, settings.batch_max_age_s)
        self._batch_unique = 0
        """Of the rows in the open batch, those that were new messages (not duplicates)."""
        self._malformed: list[Malformed] = []
        s = settings
        options = subscriber_options(s)
        self._session = ClientSession(
            s.client_id,
            s.mqtt_version,
            s.keepalive_s,
            username=s.username,
            password=s.password.encode() if s.password is not None else None,
            options=options,
        )
        self._acks = CommitAcks(self._session) if options.manual_acks else None
        """With a kept session: the broker's QoS 1 messages acknowledged at commit."""
        self._group_commit_s = group_commit_s
        self.read_pacing = ReadPacing(settings.read_interval_s, loop, self._set_reading)
        """When the connection reads: at once, or once an interval while busy (:mod:`.reading`)."""
        self.writer = SinkWriter(
            sink,
            loop=loop,
            retry_s=settings.sink_retry_s,
            max_pending=settings.max_pending_batches,
            pause=self.read_pacing.writer_full,
            release=self._batch_done if self._acks is not None else None,
        )
        self._link: MqttLink | None = None
        self._subscriber: Subscriber | None = None
        """Made at the first connect (building the TLS context may fail: that is start's)."""
        self._subscriptions = Subscriptions(
            s, self.sparkplug, responds=self.provisioner is not None, notes=self.notes
        )
        self._flush_handle: asyncio.TimerHandle | None = None
        self._lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.first_recv_ns: int | None = None
        self.reconnects = 0
        """Times the subscriber connection was lost and made again."""
        self.last_recv_ns: int | None = None

    def resume(self, stored: Iterable[StoredDevice]) -> None:
        """Before :meth:`start`: carry on from what the run has stored (a worker restarted after
        its predecessor died; :meth:`Sink.read_stored`). Of the devices stored, those whose
        topic is this worker's seed the accounting and the committed counts, so a message
        the broker sends again that is stored already counts as a duplicate, and the figures
        are the run's, not this process's."""
        own = (
            (device.device_id, device.rows, device.sequences)
            for device in stored
            if self._takes(device.topic) and self._carried(device.device_id)
        )
        acc = self.accounting
        acc.seed(own)
        self.writer.seed(acc.received, acc.unique)

    @property
    def session(self) -> ClientSession:
        """The worker's one MQTT session, which every connection it makes is put on."""
        return self._session

    @property
    def lost(self) -> asyncio.Future[BaseException | None]:
        """Resolves if the subscriber connection goes away before :meth:`stop`."""
        return self._lost

    async def start(self) -> None:
        """Connect, subscribe, and start the age-based flush; raise if any of it fails."""
        await self._connect_and_subscribe()
        self._arm_flush()

    async def reconnect(self, stop: asyncio.Event) -> bool:
        """After :attr:`lost`: connect and subscribe again, backing off; False if stopped first.

        Batched rows, the accounting and the sink carry on; what the broker did not keep for
        this subscriber while it was away shows up as lost, as it should.
        """
        subscriber = self._subscriber
        assert subscriber is not None, "reconnect() before start()"
        if not await subscriber.retry(stop, self._connect_and_subscribe):
            return False
        self.reconnects += 1
        return True

    async def _connect_and_subscribe(self) -> None:
        subscriber = self._subscriber
        if subscriber is None:
            subscriber = self._subscriber = self._new_subscriber()
        try:
            await subscriber.connect(self._take_link)
        except BrokerCapabilityError:
            # A broker that says nothing in its CONNACK may still refuse a shared
            # subscription by disconnecting (reason 0x9E): come back once, plainly.
            if not self._subscriptions.refused_by_disconnect(subscriber):
                raise
            await subscriber.connect(self._take_link)

    def _new_subscriber(self) -> Subscriber:
        s = self.settings
        context = None
        if s.tls:
            context = client_context(
                TlsOptions(
                    Path(s.ca_file) if s.ca_file else None,
                    Path(s.cert_file) if s.cert_file else None,
                    Path(s.key_file) if s.key_file else None,
                    s.verify,
                )
            )
        return Subscriber(
            self._session,
            self,
            loop=self._loop,
            host=s.host,
            port=s.port,
            timeout_s=s.connect_timeout_s,
            who="the ingest worker",
            ssl_context=context,
            socket_path=s.socket_path,
        )

    async def _take_link(self, link: MqttLink) -> None:
        """Make every subscription on the new ``link``, then take it as the worker's."""
        subscriber = self._subscriber
        assert subscriber is not None
        await self._subscriptions.make(subscriber, first=not self.reconnects)
        # Only now: a link lost while subscribing fails the subscription, not the worker.
        self._link = link
        self._lost = self._loop.create_future()

    async def stop(self) -> None:
        """Flush what is batched, wait until the sink has it (or gave it up), disconnect, close."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self.read_pacing.cancel()
        self._submit(self._batcher.drain())
        self.writer.submit_malformed(self._take_malformed())
        await self.writer.drain()
        link, self._link = self._link, None
        if link is not None:
            link.close()
        await self.writer.close()

    def snapshot(self) -> IngestSnapshot:
        """Everything measured so far."""
        acc = self.accounting
        writer = self.writer
        first = self.first_telemetry if self.settings.register_filter is not None else None
        responder = None
        if self.provisioner is not None:
            self.provisioner.counters.reconnects = self.reconnects  # it answers on our link
            responder = self.provisioner.counters.to_dict()
        return IngestSnapshot(
            taken_ns=self._wall_ns(),
            received=acc.received,
            unique=acc.unique,
            duplicated=acc.duplicated,
            out_of_order=acc.out_of_order,
            missing=acc.missing,
            devices_seen=acc.devices_seen,
            malformed=acc.malformed,
            clock_skew=acc.clock_skew,
            latency_us=acc.latency.copy(),
            sink_kind=self.sink.kind,
            run_id=self.sink.run_id,
            sink=self.sink_display,
            committed_rows=writer.committed_rows,
            committed_unique=writer.committed_unique,
            failed_rows=writer.failed_rows,
            failed_unique=writer.failed_unique,
            pending_rows=writer.pending_rows + self._batcher.pending,
            sink_errors=dict(writer.errors),
            sink_retries=writer.retries,
            sink_error=str(writer.first_error) if writer.first_error is not None else None,
            rows_before=self.sink.rows_before,
            first_recv_ns=self.first_recv_ns,
            last_recv_ns=self.last_recv_ns,
            reconnects=self.reconnects,
            notes=list(self.notes),
            first_telemetry_reached=first.stage.reached if first is not None else None,
            first_telemetry_us=first.stage.elapsed_us.copy() if first is not None else None,
            deaths=self.deaths.snapshot() if self.settings.death_filter is not None else None,
            responder=responder,
            sparkplug=self.sparkplug.snapshot() if self.sparkplug is not None else None,
            groups=[GroupIngest(g.unique, g.latency_us.copy()) for g in acc.groups]
            if acc.groups is not None
            else None,
        )

    # link listener

    def on_events(self, link: MqttLink, events: list[Event]) -> None:
        """Account for and batch every message.

        This is the worker's hot path: every message passes it once, most of them in runs
        (:class:`~simulator.mqtt.MessagesReceived`, see ``message_runs`` in
        :func:`subscriber_options`), so a message does only what it needs (decode, account,
        build its row) and rows reach the batcher once per call (:meth:`_batch`), not once
        each. Anything but plain telemetry (registrations, deaths, Sparkplug) takes a helper.
        """
        recv_ns = self._wall_ns()
        rows: list[Row] = []
        # Positions in ``rows`` of messages seen before: rare, so a list, not a flag per row.
        dups: list[int] = []
        accounted = 0
        for event in events:
            kind = type(event)
            if kind is MessagesReceived:
                run: MessagesReceived = event  # type: ignore[assignment]
                accounted = self._messages(
                    link, run.topics, run.payloads, None, recv_ns, rows, dups, accounted
                )
            elif kind is MessageReceived:  # QoS 1 or 2, retained, or with properties
                publish = event.publish  # type: ignore[union-attr]
                accounted = self._messages(
                    link, (publish.topic,), (publish.payload,), publish, recv_ns, rows, dups,
                    accounted,
                )  # fmt: skip
            # Anything else: the subscriber has seen to SUBACKs.
        if rows:
            self.accounting.record_rows(rows, accounted, dups)
            self._received(recv_ns)
            self._batch(rows, dups, self._loop.time())
        if self._acks is not None:
            self._acks.read(link)
            self._commit_if_idle()
        if self.provisioner is not None:
            # Answers queued above, and those a PUBACK has made room for, in one write.
            self.provisioner.flush(link)
        self.read_pacing.read()

    def _messages(  # noqa: PLR0917 - the hot loop's state, passed once per run
        self,
        link: MqttLink,
        topics: Sequence[str],
        payloads: Sequence[bytes],
        publish: Publish | None,
        recv_ns: int,
        rows: list[Row],
        dups: list[int],
        accounted: int,
    ) -> int:
        """Decode the messages that arrived together and make their rows (``publish``: the one
        packet they came in, when there is just one); returns how many of ``rows`` the
        accounting has had.

        Rows are accounted for in bulk, at the end of the read, except that a registration
        first has the accounting take every row before it: whether it starts its device's
        clock depends on whether telemetry from that device came earlier.
        """
        first = self.first_telemetry
        register = self._register
        # Registrations, deaths and Sparkplug need a look at each topic; plain telemetry does not.
        routed = self._register is not None or self._death is not None or self.sparkplug is not None
        new_row = tuple.__new__  # Row's own __new__ is a Python frame per message
        keep = self.settings.store_payloads
        if not routed and len(payloads) > 1:
            decoded = self._codec.decode_all(payloads)
            if decoded is not None:  # every one a message: no need to look at each alone
                kept: Sequence[bytes | None] = payloads if keep else [None] * len(payloads)
                rows.extend(
                    new_row(Row, (device_id, seq, ts_ns, recv_ns, topic, payload, values))
                    for topic, payload, (device_id, seq, ts_ns, values) in zip(
                        topics, kept, decoded, strict=True
                    )
                )
                return accounted
        decode: Callable[[bytes], Telemetry] = self._codec.decode
        add = rows.append
        for topic, payload in zip(topics, payloads, strict=True):
            data_decode = decode
            if routed:
                if register is not None and register.matches(topic):
                    self.accounting.record_rows(rows, accounted, dups)
                    accounted = len(rows)
                    self._registration(link, publish or Publish(topic, payload))
                    continue
                by_route = self._route(topic, payload)
                if by_route is None:
                    continue
                data_decode = by_route
            try:
                device_id, seq, ts_ns, values = data_decode(payload)
            except PayloadError as exc:
                self._malformed_message(recv_ns, topic, payload, exc)
                continue
            if routed and first.waiting:
                first.seen(device_id, recv_ns)
            stored = payload if keep else None
            add(new_row(Row, (device_id, seq, ts_ns, recv_ns, topic, stored, values)))
        return accounted

    def _route(self, topic: str, payload: bytes) -> Callable[[bytes], Telemetry] | None:
        """The decoder of a message that is telemetry, or None for one handled here: a death,
        a Sparkplug birth, death or command."""
        death = self._death
        if death is not None and death.matches(topic):
            self.deaths.heard(payload)
            return None
        sparkplug = self.sparkplug
        if sparkplug is not None and topic.startswith(sparkplug.prefix):
            return sparkplug.decoder(topic)
        return self._codec.decode

    def _received(self, recv_ns: int) -> None:
        self.last_recv_ns = recv_ns
        if self.first_recv_ns is None:
            self.first_recv_ns = recv_ns

    def _malformed_message(self, recv_ns: int, topic: str, payload: bytes, exc: Exception) -> None:
        """Count a message that did not decode and keep it for the sink's malformed table."""
        self._received(recv_ns)
        self.accounting.record_malformed()
        self._malformed.append(Malformed(recv_ns, topic, payload, str(exc)))

    def _batch(self, rows: list[Row], dups: list[int], now: float) -> None:
        """Add one call's rows to the batcher and hand every batch they fill to the writer,
        each with its exact count of new messages: the rows of this call in it, less the
        duplicates among them (``dups``: their positions in ``rows``, ascending), plus the new
        ones that were pending from earlier calls."""
        pending = self._batcher.pending
        start = 0
        for batch in self._batcher.add_many(rows, now):
            end = start + len(batch) - pending
            self._batch_unique += end - start - _count_in(dups, start, end)
            self._submit(batch)
            start, pending = end, 0
        self._batch_unique += len(rows) - start - _count_in(dups, start, len(rows))

    def _registration(self, link: MqttLink, publish: Publish) -> None:
        """Time (and answer, when responding) a registration of one of this worker's devices.

        Every worker of a partitioned run hears every registration; the one whose topics hold
        the device's telemetry topic takes it, and the first worker those that name none (or
        do not decode), so each is counted once.
        """
        try:
            registration: Registration | None = decode_registration(publish.payload)
        except PayloadError:
            registration = None
        if not self._owns(registration.topic if registration is not None else None):
            return
        self.first_telemetry.registered(registration)
        if self.provisioner is not None:
            self.provisioner.answer(link, publish, registration)

    def _carried(self, device_id: str) -> bool:
        """Whether this worker's broker carried ``device_id`` (always, with one broker): its
        broker follows from the fleet index its id ends with; an id without one is the first
        broker's worker's, as a topic no partition places is the first worker's."""
        settings = self.settings
        if settings.broker_count == 1:
            return True
        index = device_index(device_id)
        if index is None:
            return settings.broker_number == 0
        broker = broker_of_device(index, settings.connection_blocks, settings.broker_count)
        return broker == settings.broker_number

    def _takes(self, topic: str) -> bool:
        """Whether telemetry on ``topic`` comes to this worker (its share, or Sparkplug's)."""
        sparkplug = self.sparkplug
        if sparkplug is not None and topic.startswith(sparkplug.prefix):
            return True
        return self._owns(topic)

    def _owns(self, topic: str | None) -> bool:
        """Whether a device publishing on ``topic`` is this worker's (see ``partition``)."""
        if not self._partition:
            return True
        if topic is None:
            return self.settings.worker_index == 0
        levels = topic.split("/")
        for level in self._device_levels:
            if level < len(levels):
                levels[level] = "+"
        return "/".join(levels) in self._partition

    def on_lost(self, link: MqttLink, exc: BaseException | None) -> None:
        """The subscriber connection went away while we still wanted it."""
        if self._acks is not None:
            self._acks.lost()
        if self._link is link and not self._lost.done():
            self._link = None
            self._lost.set_result(exc or RemoteProtocolError("broker closed the ingest connection"))

    # batching and the writer thread

    def _arm_flush(self) -> None:
        every = self.settings.batch_max_age_s / 2
        if self._acks is not None:
            every = min(every, max(self._group_commit_s, 0.001) / 2)
        self._flush_handle = self._loop.call_later(every, self._flush_due)

    def _flush_due(self) -> None:
        now = self._loop.time()
        self._submit(self._batcher.due(now))
        self.writer.submit_malformed(self._take_malformed())
        if self._acks is not None:
            # Also when nothing arrives: the broker may be waiting for our PUBACKs.
            self._commit_if_idle()
        self._arm_flush()

    def _take_malformed(self) -> list[Malformed]:
        items, self._malformed = self._malformed, []
        return items

    def _submit(self, batch: list[Row] | None) -> None:
        if batch:
            # A batch filled in the middle of a read covers the reads before it; the next
            # batch releases that read's messages.
            through = self._acks.taken if self._acks is not None else None
            self.writer.submit(batch, self._batch_unique, through)
            self._batch_unique = 0

    # acknowledging at commit (kept sessions)

    def _batch_done(self, acks_through: int) -> None:
        """The writer is done with a batch: acknowledge what it covered, commit what waits."""
        assert self._acks is not None
        self._acks.release(acks_through)
        self._commit_if_idle()

    def _commit_if_idle(self) -> None:
        """If the writer has nothing to do, hand it the open batch once that has gathered rows
        for ``group_commit_s`` (group commit), or, with no rows waiting anywhere,
        acknowledge every message delivered so far."""
        acks = self._acks
        assert acks is not None
        if self.writer.pending_rows:
            return  # its completion comes back here
        oldest = self._batcher.oldest
        if oldest is None:
            acks.release(acks.taken)
        elif self._loop.time() - oldest >= self._group_commit_s:
            self._submit(self._batcher.drain())

    def _set_reading(self, on: bool) -> None:
        link = self._link
        if link is None or link.transport is None:
            return
        with contextlib.suppress(RuntimeError):
            if on:
                link.transport.resume_reading()
            else:
                link.transport.pause_reading()


def _count_in(positions: list[int], start: int, end: int) -> int:
    """How many of the ascending ``positions`` are in ``start .. end - 1``."""
    if not positions:
        return 0
    return bisect_left(positions, end) - bisect_left(positions, start)
