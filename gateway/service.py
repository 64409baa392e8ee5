"""The gateway: sources -> decoders -> stamped readings -> outbox -> MQTT (QoS 1).

Sources never wait for the broker: they feed the outbox, and a separate publisher drains it in
batches, forgetting a batch only after the broker's PUBACK. A failing source is reported once,
clearly, and retried; the others keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime

import msgspec

from coldtrail import __version__, schema, topics
from coldtrail.errors import DecodeError, ServiceUnavailable
from coldtrail.mqtt import MqttConnection, Will
from coldtrail.settings import GatewaySettings
from gateway.decoding import Decoded, FrameDecoder
from gateway.outbox import MemoryOutbox, Outbox
from gateway.ports import FrameSource
from gateway.stamping import Stamper

log = logging.getLogger(__name__)

SOURCE_RETRY_S = 30.0
STATUS_EVERY_S = 30.0


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        sources: list[FrameSource],
        *,
        outbox: Outbox | None = None,
    ) -> None:
        self._settings = settings
        self._sources = sources
        self._outbox = outbox or MemoryOutbox(settings.pending_max)
        self._decoder = FrameDecoder()
        self._stamper = Stamper()
        self._dead: deque[schema.GatewayDeadLetter] = deque(maxlen=10_000)
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
        self._status_task: asyncio.Task[None] | None = None
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
        try:
            async with asyncio.TaskGroup() as tasks:
                readers = [tasks.create_task(self._read(source)) for source in self._sources]
                publisher = tasks.create_task(self._publish_loop(stop))
                status = tasks.create_task(self._status_loop(stop))
                await stop.wait()
                for reader in readers:
                    reader.cancel()
                await publisher
                status.cancel()
        finally:
            await self._flush_status("offline")
            await self._mqtt.close()

    # -- sources -------------------------------------------------------------------------------

    async def _read(self, source: FrameSource) -> None:
        while True:
            try:
                self._source_state[source.name] = "running"
                async for frame in source.frames():
                    self._accept(self._decoder.decode(frame))
                self._source_state[source.name] = "finished"
                log.info("source %s finished", source.name)
                return
            except (OSError, ServiceUnavailable) as exc:
                self._source_state[source.name] = f"failed: {exc}"
                log.error(
                    "source %s failed: %s; the other sources keep running; retrying in %.0f s",
                    source.name,
                    exc,
                    SOURCE_RETRY_S,
                )
                await asyncio.sleep(SOURCE_RETRY_S)

    def _accept(self, decoded: Decoded) -> None:
        for sample in decoded.samples:
            try:
                reading = self._stamper.reading(sample)
            except ValueError as exc:
                self._reject(_breaks_contract(sample.device_id, sample.values, exc))
                continue
            if reading is not None:
                self._outbox.put(reading)
        for fix in decoded.fixes:
            try:
                position = self._stamper.position(fix)
            except ValueError as exc:
                self._reject(_breaks_contract(fix.device_id, fix.fix, exc))
                continue
            if position is not None:
                self._outbox.put(position)
        for reject in decoded.rejects:
            self._reject(reject)

    def _reject(self, error: DecodeError) -> None:
        log.warning("undecodable frame: %s", error)
        self._dead.append(
            schema.GatewayDeadLetter(
                gateway_id=self._settings.gateway_id,
                source=error.device or "unknown",
                received_at=datetime.now(UTC),
                raw_hex=error.raw.hex(),
                reason=error.reason,
            )
        )

    # -- publishing ----------------------------------------------------------------------------

    async def _publish_loop(self, stop: asyncio.Event) -> None:
        """Drain the outbox; on stop, keep draining for a short grace period."""
        while not stop.is_set() or (self.pending and self._mqtt.connected.is_set()):
            if not self.pending and not self._dead:
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
            await self._publish_dead_letters()
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

    async def _publish_dead_letters(self) -> None:
        while self._dead:
            letter = self._dead[0]
            await self._mqtt.publish(self._topics["deadletter"], schema.encode(letter), qos=1)
            self._dead.popleft()

    # -- status --------------------------------------------------------------------------------

    def _status(self, state: str) -> schema.GatewayStatus:
        return schema.GatewayStatus(
            gateway_id=self._settings.gateway_id,
            state="online" if state == "online" else "offline",
            at=datetime.now(UTC),
            software=f"coldtrail {__version__}",
            pending=self.pending,
            sources=dict(self._source_state),
        )

    def _announce(self) -> None:
        # Called on every (re)connect: replace the retained last will with "online".
        self._status_task = asyncio.get_running_loop().create_task(self._flush_status("online"))

    async def _flush_status(self, state: str) -> None:
        if not self._mqtt.connected.is_set():
            return
        payload = schema.encode(self._status(state))
        with contextlib.suppress(TimeoutError, ServiceUnavailable):
            await asyncio.wait_for(
                self._mqtt.publish(self._topics["status"], payload, qos=1, retain=True), 5
            )

    async def _status_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(STATUS_EVERY_S)
            await self._flush_status("online")


def _breaks_contract(device_id: str, values: msgspec.Struct, exc: ValueError) -> DecodeError:
    return DecodeError(
        f"decoded values break the telemetry contract: {exc}",
        msgspec.json.encode(values),
        device=device_id,
    )
