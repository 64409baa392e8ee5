"""The gateway: sources -> intake (decode, stamp) -> outbox -> MQTT (QoS 1).

Sources never wait for the broker: each decoded frame's items are committed to the outbox
(on disk with ``[outbox] path``), and a separate publisher drains it in batches, forgetting a
batch only after the broker's PUBACK. A failing source is reported once, clearly, and retried;
the others keep running. Every ``status_interval_s`` the gateway publishes its health (retained;
the last will says ``offline``) and writes it to ``status_file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from coldtrail import schema, topics
from coldtrail.errors import ServiceUnavailable
from coldtrail.mqtt import MqttConnection, Will
from coldtrail.settings import GatewaySettings
from gateway import systemd
from gateway.ble_source import BleakFrameSource
from gateway.health import HealthMonitor, write_status_file
from gateway.intake import Intake, sensor_configs
from gateway.outbox import MemoryOutbox, Outbox
from gateway.outbox_sqlite import SqliteOutbox
from gateway.ports import FrameSource

log = logging.getLogger(__name__)

SOURCE_RETRY_S = 30.0


def open_outbox(settings: GatewaySettings) -> Outbox:
    if settings.outbox.path is None:
        log.warning(
            "no [outbox] path: readings wait in memory and are lost if the gateway restarts"
        )
        return MemoryOutbox(settings.outbox.max_items)
    return SqliteOutbox(settings.outbox.path, max_items=settings.outbox.max_items)


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        sources: list[FrameSource],
        *,
        outbox: Outbox | None = None,
        source_retry_s: float = SOURCE_RETRY_S,
    ) -> None:
        self._settings = settings
        self._source_retry_s = source_retry_s
        self._sources = sources
        self._outbox = outbox if outbox is not None else open_outbox(settings)
        self._health = HealthMonitor(settings.gateway_id, disk_path=settings.outbox.path)
        self._intake = Intake(settings.gateway_id, sensor_configs(settings.sensors), self._health)
        self._source_state: dict[str, str] = {s.name: "starting" for s in sources}
        self.published = 0
        prefix = settings.mqtt.topic_prefix
        gid = settings.gateway_id
        self._topics = {
            "telemetry": topics.telemetry(gid, prefix),
            "status": topics.status(gid, prefix),
            "deadletter": topics.deadletter(gid, prefix),
        }
        offline = schema.GatewayStatus(gateway_id=gid, state="offline")
        self._mqtt = MqttConnection(
            settings.mqtt,
            client_id=gid,
            clean_session=False,
            will=Will(self._topics["status"], schema.encode(offline)),
            on_connected=self._announce,
        )
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
        return len(self._outbox)

    async def run(self, stop: asyncio.Event) -> None:
        await self._mqtt.start()
        systemd.notify("READY=1")
        try:
            async with asyncio.TaskGroup() as tasks:
                readers = [tasks.create_task(self._read(source)) for source in self._sources]
                publisher = tasks.create_task(self._publish_loop(stop))
                background = [
                    tasks.create_task(self._status_loop(stop)),
                    tasks.create_task(systemd.keep_alive()),
                ]
                await stop.wait()
                systemd.notify("STOPPING=1")
                for task in readers:
                    task.cancel()
                await publisher
                for task in background:
                    task.cancel()
        finally:
            await self._publish_status("offline")
            await self._mqtt.close()
            await self._outbox.close()

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
        """Drain the outbox; on stop, keep draining while the broker is there."""
        dead = self._intake.dead
        while not stop.is_set() or (self.pending and self._mqtt.connected.is_set()):
            if not self.pending and not dead:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._outbox.wait_nonempty(), 0.5)
                continue
            if not self._mqtt.connected.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._mqtt.connected.wait(), 1.0)
                if stop.is_set():
                    break
                continue
            if self.pending < self._settings.batch_max_items and not stop.is_set():
                await asyncio.sleep(self._settings.batch_max_wait_s)
            while dead:
                await self._mqtt.publish(self._topics["deadletter"], schema.encode(dead[0]))
                dead.popleft()
            items = self._outbox.oldest(self._settings.batch_max_items)
            if not items:
                continue
            batch = schema.TelemetryBatch(
                gateway_id=self._settings.gateway_id,
                sent_at=datetime.now(UTC),
                readings=[i for i in items if isinstance(i, schema.Reading)],
                positions=[i for i in items if isinstance(i, schema.Position)],
                events=[i for i in items if isinstance(i, schema.Event)],
            )
            await self._mqtt.publish(self._topics["telemetry"], schema.encode(batch), qos=1)
            self._outbox.confirm(len(items))
            self.published += len(items)

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
        dropped = dict(outbox.dropped)
        if outbox.thinned:
            dropped["thinned"] = outbox.thinned
        scanners = [s for s in self._sources if isinstance(s, BleakFrameSource)]
        return self._health.status(
            state,
            pending=outbox.depth,
            oldest_age_s=outbox.oldest_age_s,
            sources=dict(self._source_state),
            alarms=alarms,
            dropped=dropped,
            scanner_restarts=sum(s.restarts for s in scanners) if scanners else None,
        )

    def _announce(self) -> None:
        # Called on every (re)connect: replace the retained last will with "online".
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
