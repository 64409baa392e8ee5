"""The gateway: sources -> intake (decode, stamp) -> outbox -> MQTT (QoS 1).

Sources never wait for the broker: each decoded frame's items are committed to the outbox
(on disk with ``[outbox] path``), and a separate publisher drains it in batches, forgetting a
batch only when ingest acknowledges its storage on the gateway's ``stored`` topic
(gateway/storage.py; with ``await_stored = false``, at the broker's PUBACK). A failing source
is reported once, clearly, and retried; the others keep running. Every ``status_interval_s``
the gateway publishes its health (retained; the last will says ``offline``) and writes it to
``status_file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from coldtrail import schema, topics
from coldtrail.errors import InvalidMessage, ServiceUnavailable
from coldtrail.mqtt import MqttConnection, Will
from coldtrail.settings import GatewaySettings
from gateway import systemd
from gateway.calibration import Calibrator, calibrations
from gateway.command_channel import CommandChannel
from gateway.command_log import CommandLog, open_command_log
from gateway.commands import CommandHandler
from gateway.config_file import ConfigFile
from gateway.health import HealthMonitor, write_status_file
from gateway.intake import Intake, sensor_configs
from gateway.outbox import MemoryOutbox, Outbox
from gateway.outbox_sqlite import SqliteOutbox
from gateway.ports import FrameSource, ProbedSource
from gateway.storage import AwaitingStorage

log = logging.getLogger(__name__)

SOURCE_RETRY_S = 30.0
RECONNECT_MAX_S = 2.0
"""The longest wait between two attempts to reach the broker (1-2 s with jitter): a gateway
back from a dead zone, or a broker back from a restart, drains its backlog within seconds, not
after a 30 s backoff. One TCP connection attempt every ~2 s costs nothing worth saving."""
STOP_GRACE_S = 10.0
"""A stopping gateway waits for storage acknowledgements while one comes at least this often
(systemd's TimeoutStopSec is 30 s): what is left stays in the disk outbox for the next start."""


def _source_settings(settings: GatewaySettings) -> tuple[object, ...]:
    """What the sources are built from: a change of anything else keeps them running."""
    return (
        settings.sources,
        [(s.mac, s.kind) for s in settings.sensors],
        settings.ble,
        settings.serial,
    )


async def _probe(new: list[FrameSource], running: list[FrameSource]) -> None:
    """Open each new source that can be checked (serial ports) once; raise if one cannot. A
    port a running source holds is not probed (it is open exclusively, and it works)."""
    held = {source.path for source in running if isinstance(source, ProbedSource)}
    for source in new:
        if isinstance(source, ProbedSource) and source.path not in held:
            await source.probe()


def open_outbox(settings: GatewaySettings) -> Outbox:
    if settings.outbox.path is None:
        log.warning(
            "no [outbox] path: readings wait in memory and are lost if the gateway restarts"
        )
        return MemoryOutbox(settings.outbox.max_items)
    return SqliteOutbox(
        settings.outbox.path,
        max_items=settings.outbox.max_items,
        commit_interval_s=settings.outbox.commit_interval_s,
    )


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        sources: list[FrameSource],
        *,
        outbox: Outbox | None = None,
        source_retry_s: float = SOURCE_RETRY_S,
        config: ConfigFile | None = None,
        build_sources: Callable[[GatewaySettings], list[FrameSource]] | None = None,
        command_log: CommandLog | None = None,
    ) -> None:
        """``config``: the file remote configuration commands change (none: they are refused);
        ``build_sources``: how to build the sources of a new configuration (none: the sources
        stay, only the sensors' configuration changes)."""
        self._settings = settings
        self._build_sources = build_sources
        self.restart_requested = False
        self._restart = asyncio.Event()
        self._source_retry_s = source_retry_s
        self._sources = sources
        self._outbox = outbox if outbox is not None else open_outbox(settings)
        self._health = HealthMonitor(settings.gateway_id, disk_path=settings.outbox.path)
        self._intake = Intake(
            settings.gateway_id,
            sensor_configs(settings.sensors),
            self._health,
            Calibrator(calibrations(settings.sensors)),
        )
        self._source_state: dict[str, str] = {s.name: "starting" for s in sources}
        self.published = 0
        prefix = settings.mqtt.topic_prefix
        gid = settings.gateway_id
        self._topics = {
            "telemetry": topics.telemetry(gid, prefix),
            "status": topics.status(gid, prefix),
            "deadletter": topics.deadletter(gid, prefix),
            "stored": topics.stored(gid, prefix),
            "cmd": topics.cmd(gid, prefix),
        }
        self._awaiting: AwaitingStorage | None = None
        if settings.await_stored:
            self._awaiting = AwaitingStorage(self._outbox, gid, resend_s=settings.stored_resend_s)
        self._acknowledged = asyncio.Event()
        self._stopping_since: float | None = None
        self.bad_acks = 0
        offline = schema.GatewayStatus(gateway_id=gid, state="offline")
        subscriptions = [(self._topics["cmd"], 1)]
        if self._awaiting is not None:
            subscriptions.append((self._topics["stored"], 1))
        self._mqtt = MqttConnection(
            settings.mqtt,
            client_id=gid,
            clean_session=False,
            will=Will(self._topics["status"], schema.encode(offline)),
            subscriptions=subscriptions,
            on_connected=self._announce,
            backoff_max_s=RECONNECT_MAX_S,
        )
        command_log = command_log or open_command_log(settings.outbox.path)
        self._commands = CommandChannel(
            CommandHandler(self, command_log, config),
            command_log,
            self._mqtt,
            topics.cmdresult(gid, prefix),
            self._request_restart,
        )
        self._readers: dict[int, asyncio.Task[None]] = {}
        self._task_group: asyncio.TaskGroup | None = None
        self._announcing: set[asyncio.Task[None]] = set()
        username = settings.mqtt.username
        if username is not None and username != gid:
            log.warning(
                "MQTT username %r differs from the gateway id %r: a broker ACL keyed on the"
                " username (as in deploy/mosquitto/acl) will silently drop this gateway's"
                " messages",
                username,
                gid,
            )

    @property
    def pending(self) -> int:
        """Items in the outbox: not yet acknowledged as stored (or, without ``await_stored``,
        not yet acknowledged by the broker)."""
        return len(self._outbox)

    @property
    def awaiting_storage(self) -> int:
        """Items published whose storage ingest has not acknowledged yet."""
        return self._awaiting.items if self._awaiting is not None else 0

    @property
    def resent(self) -> int:
        """Messages published again because their storage was not acknowledged in time."""
        return self._awaiting.resent if self._awaiting is not None else 0

    @property
    def settings(self) -> GatewaySettings:
        """The configuration in effect (remote commands replace it)."""
        return self._settings

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set, or a ``restart`` command (then :attr:`restart_requested`)."""
        await self._mqtt.start()
        systemd.notify("READY=1")
        try:
            async with asyncio.TaskGroup() as tasks:
                self._task_group = tasks
                for source in self._sources:
                    self._readers[id(source)] = tasks.create_task(self._read(source))
                stopping = asyncio.Event()
                publisher = tasks.create_task(self._publish_loop(stopping))
                background = [
                    tasks.create_task(self._status_loop(stopping)),
                    tasks.create_task(systemd.keep_alive()),
                    tasks.create_task(self._receive()),
                    tasks.create_task(self._commands.run()),
                ]
                waits = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._restart.wait()),
                ]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()
                for task in self._readers.values():
                    task.cancel()
                # What the readers handed over (write-behind) is committed before the publisher
                # starts its drain: else it could end the drain before the last items count.
                await self._outbox.flush()
                stopping.set()
                systemd.notify("STOPPING=1")
                await publisher
                for task in background:
                    task.cancel()
        finally:
            self._task_group = None
            await self._publish_status("offline")
            await self._mqtt.close()
            await self._outbox.close()
            self._commands.close()

    def _request_restart(self) -> None:
        self.restart_requested = True
        self._restart.set()

    async def reconfigure(self, settings: GatewaySettings) -> None:
        """Run with ``settings`` from now on: new sources (if this gateway builds them from its
        settings), sensors and calibrations, intervals. Everything is built before anything is
        swapped, and the new serial ports are opened once (:func:`_probe`), so a failure (raised:
        the command is ``failed``) leaves the gateway running as before."""
        build = self._build_sources
        new_sources = self._sources
        if build is not None and _source_settings(settings) != _source_settings(self._settings):
            new_sources = build(settings)
            await _probe(new_sources, self._sources)
        self._intake.reconfigure(
            sensor_configs(settings.sensors), Calibrator(calibrations(settings.sensors))
        )
        self._settings = settings
        if self._awaiting is not None:
            self._awaiting.resend_s = settings.stored_resend_s
        if new_sources is self._sources:
            return
        old = list(self._readers.values())
        for task in old:
            task.cancel()
        if old:  # closed before they open again (a serial port is opened exclusively)
            await asyncio.wait(old)
        self._readers = {}
        self._sources = new_sources
        self._source_state = {s.name: "starting" for s in new_sources}
        if self._task_group is not None:
            for source in new_sources:
                self._readers[id(source)] = self._task_group.create_task(self._read(source))

    # -- sources -------------------------------------------------------------------------------

    async def _read(self, source: FrameSource) -> None:
        while True:
            try:
                async for frame in source.frames():
                    if self._source_state[source.name] != "running":
                        if self._source_state[source.name].startswith("failed"):
                            log.info("source %s works again", source.name)
                        self._source_state[source.name] = "running"
                    items = self._intake.take(frame)
                    if items:
                        await self._outbox.put_many(items)
                self._source_state[source.name] = "finished"
                log.info("source %s finished", source.name)
                return
            except (OSError, ServiceUnavailable) as exc:
                state = f"failed: {exc}"
                if self._source_state.get(source.name) != state:  # say it once, not every retry
                    log.error(
                        "source %s failed: %s; the other sources keep running; retrying every"
                        " %.0f s",
                        source.name,
                        exc,
                        self._source_retry_s,
                    )
                self._source_state[source.name] = state
                await asyncio.sleep(self._source_retry_s)

    # -- publishing ----------------------------------------------------------------------------

    async def _publish_loop(self, stop: asyncio.Event) -> None:
        """Drain the outbox; on stop, keep draining while the broker is there and ingest keeps
        acknowledging (what is left stays in a disk outbox for the next start)."""
        dead = self._intake.dead
        awaiting = self._awaiting
        while not stop.is_set() or self._draining():
            if not self._mqtt.connected.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._mqtt.connected.wait(), 1.0)
                if stop.is_set():
                    break
                continue
            if awaiting is not None and not stop.is_set():
                due = awaiting.due()
                if due:
                    log.warning(
                        "storage of %d message(s) not acknowledged within %.0f s: publishing"
                        " them again",
                        len(due),
                        awaiting.wait_s,
                    )
                    await awaiting.resend(due, self._publish_telemetry)
                    continue
            window_full = (
                awaiting is not None and awaiting.items >= self._settings.max_awaiting_storage
            )
            if window_full or (not self._outbox.untaken() and not dead):
                await self._wait_for_work(window_full)
                continue
            if self.pending < self._settings.batch_max_items and not stop.is_set():
                await asyncio.sleep(self._settings.batch_max_wait_s)
            while dead:
                await self._mqtt.publish(self._topics["deadletter"], schema.encode(dead[0]))
                dead.popleft()
            taken = self._outbox.take(self._settings.batch_max_items)
            if not taken.items:
                continue
            items = taken.items
            batch = schema.TelemetryBatch(
                gateway_id=self._settings.gateway_id,
                sent_at=datetime.now(UTC),
                readings=[i for i in items if isinstance(i, schema.Reading)],
                positions=[i for i in items if isinstance(i, schema.Position)],
                events=[i for i in items if isinstance(i, schema.Event)],
            )
            payload = schema.encode(batch)
            await self._mqtt.publish(self._topics["telemetry"], payload, qos=1)
            if awaiting is not None:
                awaiting.add(payload, taken)
            else:
                self._outbox.forget(taken)
            self.published += len(items)

    async def _publish_telemetry(self, payload: bytes) -> None:
        await self._mqtt.publish(self._topics["telemetry"], payload, qos=1)

    def _draining(self) -> bool:
        """Stopping: whether to go on. While the broker is there and items are left to
        publish, or to await acknowledgements that keep coming (:data:`STOP_GRACE_S`)."""
        if not self._mqtt.connected.is_set():
            return False
        if self._outbox.untaken():
            return True
        awaiting = self._awaiting
        if awaiting is None or not awaiting.items or awaiting.due():
            return False
        if self._stopping_since is None:
            self._stopping_since = time.monotonic()
        quiet_since = max(self._stopping_since, awaiting.last_acknowledged)
        return time.monotonic() - quiet_since < STOP_GRACE_S

    async def _wait_for_work(self, window_full: bool) -> None:
        """Until new items, an acknowledgement, or half a second (resends fall due)."""
        self._acknowledged.clear()
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._acknowledged.wait())]
        if not window_full:
            waits.append(asyncio.ensure_future(self._outbox.wait_untaken()))
        try:
            await asyncio.wait(waits, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _receive(self) -> None:
        """Commands to the command channel; ingest's storage acknowledgements: forget what
        they name."""
        async for message in self._mqtt.messages():
            if message.topic == self._topics["cmd"]:
                self._commands.received(message.payload)
                continue
            awaiting = self._awaiting
            if awaiting is None:
                continue
            try:
                ack = schema.decode_stored(message.payload)
            except InvalidMessage as exc:
                self.bad_acks += 1
                log.warning(
                    "invalid storage acknowledgement on %s (%d so far; nothing forgotten): %s",
                    message.topic,
                    self.bad_acks,
                    exc.reason,
                )
                continue
            if awaiting.acknowledged(ack):
                self._acknowledged.set()

    # -- status --------------------------------------------------------------------------------

    def status(self, state: str = "online") -> schema.GatewayStatus:
        outbox = self._outbox.stats()
        alarms = [
            f"source-failed:{name}"
            for name, state_ in self._source_state.items()
            if state_.startswith("failed")
        ]
        if outbox.alarm:
            alarms.append("outbox-full" if outbox.dropped else "outbox-thinning")
        awaiting = self._awaiting
        if awaiting is not None and awaiting.overdue():
            alarms.append("storage-unacknowledged")
        dropped = dict(outbox.dropped)
        if outbox.thinned:
            dropped["thinned"] = outbox.thinned
        # Only a BLE source restarts its scanner; its module (and bleak) is loaded only if one
        # is configured.
        ble = sys.modules.get("gateway.ble_source")
        scanners = [s for s in self._sources if ble and isinstance(s, ble.BleakFrameSource)]
        return self._health.status(
            state,
            pending=outbox.depth,
            oldest_age_s=outbox.oldest_age_s,
            sources=dict(self._source_state),
            alarms=alarms,
            dropped=dropped,
            scanner_restarts=sum(s.restarts for s in scanners) if scanners else None,
            stored_through=awaiting.stored_through if awaiting is not None else None,
            awaiting_storage=awaiting.items if awaiting is not None else None,
            calibrations=self._intake.calibrator.by_device,
        )

    def _announce(self) -> None:
        # Called on every (re)connect: replace the retained last will with "online".
        if self._awaiting is not None:
            self._awaiting.reconnected()
        task = asyncio.get_running_loop().create_task(self._publish_status("online"))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _publish_status(self, state: str) -> None:
        status = self.status(state)
        if self._settings.status_file:
            try:
                write_status_file(self._settings.status_file, status)
            except OSError as exc:
                log.warning("cannot write the status file %s: %s", self._settings.status_file, exc)
        if not self._mqtt.connected.is_set():
            return
        with contextlib.suppress(TimeoutError, ServiceUnavailable):
            await asyncio.wait_for(
                self._mqtt.publish(self._topics["status"], schema.encode(status), retain=True), 5
            )

    async def _status_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self._settings.status_interval_s)
            await self._publish_status("online")
