"""The relay: publishes the stored gateway commands on their gateways' ``cmd`` topics.

It runs in each API process that has a broker (``COLDTRAIL_API_MQTT__...``), connected with the
API's own broker identity, the only one the broker's ACL lets write a ``cmd`` topic. Every
``poll_s``, or at once when a command is stored here, it claims the commands due (pending ones,
and those sent ``command_resend_s`` ago without a result) with ``FOR UPDATE SKIP LOCKED`` and
marks them sent in the same short statement, so that several API processes never send one
command at the same moment; only once that is committed does it publish each (QoS 1, waiting
for the broker's PUBACK): no row lock is held across network I/O, and a publish that fails
leaves the command to its next resend. The resend interval doubles after each send (up to
``2**DOUBLINGS`` times), and a command without a result ``command_expire_s`` after it was
issued is closed as ``expired`` (audited), no longer sent. A command is sent again until the
gateway's result arrives (ingest closes it) or it expires: the gateway applies each id once, so
the copies only bring the stored result back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Protocol

import psycopg
from fastapi import FastAPI

from api import queries_commands
from api.deps import Pool
from coldtrail import commands, topics
from coldtrail.errors import ServiceUnavailable
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import ApiSettings, MqttSettings

log = logging.getLogger(__name__)

BATCH = 100
PUBLISH_TIMEOUT_S = 10.0
DOUBLINGS = 7
"""The resend interval doubles after each send without a result, up to ``2**7`` times
``resend_s`` (64 min at 30 s): a gateway away for hours finds a few copies queued, not one
per ``resend_s``."""
ACTOR = "api:command-relay"


class Broker(Protocol):
    """The relay's MQTT session (an ``MqttConnection``; tests give others)."""

    @property
    def connected(self) -> asyncio.Event: ...

    async def start(self, wait_s: float | None = None) -> None: ...

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None: ...

    async def close(self) -> None: ...


class CommandRelay:
    def __init__(
        self,
        pool: Pool,
        mqtt: MqttSettings,
        client_id: str,
        *,
        resend_s: float,
        expire_s: float = 7 * 86_400,
        poll_s: float = 1.0,
        connection: Broker | None = None,
    ) -> None:
        self._pool = pool
        self._prefix = mqtt.topic_prefix
        self._mqtt: Broker = connection or MqttConnection(mqtt, client_id, clean_session=True)
        self._resend_s = resend_s
        self._expire_s = expire_s
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.sent = 0

    def wake(self) -> None:
        """A command was stored: look now."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled."""
        await self._mqtt.start()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
                self._wake.clear()
                if not self._mqtt.connected.is_set():
                    continue
                try:
                    while await self.relay_once() == BATCH:
                        pass
                except (psycopg.Error, ServiceUnavailable, TimeoutError) as exc:
                    log.warning("command relay: %s; trying again in %.0f s", exc, self._poll_s)
        finally:
            await self._mqtt.close()

    async def relay_once(self) -> int:
        """Claim the commands due (marked sent, committed), then publish them; returns how many
        were claimed. A publish that fails stops this round: that command and the rest claimed
        with it wait for their next resend (they are marked sent, never sent again at once)."""
        async with self._pool.connection() as conn:
            expired = await queries_commands.expire(conn, self._expire_s, ACTOR)
            if expired:
                log.warning(
                    "%d command(s) expired: no result within %.0f s", expired, self._expire_s
                )
            async with conn.transaction():
                due = await queries_commands.claim_due(conn, self._resend_s, DOUBLINGS, BATCH)
        for stored in due:
            command = commands.Command(
                id=stored.command_id,
                gateway_id=stored.gateway_id,
                kind=stored.kind,  # type: ignore[arg-type]  # checked when stored
                body=stored.body,
                issued_at=stored.created_at,
                issued_by=stored.created_by,
            )
            topic = topics.cmd(stored.gateway_id, self._prefix)
            await asyncio.wait_for(
                self._mqtt.publish(topic, commands.encode(command), qos=1), PUBLISH_TIMEOUT_S
            )
            self.sent += 1
            if stored.sends > 1:
                log.info(
                    "command %s sent again to %s (send %d, no result yet)",
                    stored.command_id,
                    stored.gateway_id,
                    stored.sends,
                )
        return len(due)


def start(app: FastAPI, settings: ApiSettings, pool: Pool) -> asyncio.Task[None] | None:
    """The relay of an API with a broker, as a task (``app.state.command_relay``), else None."""
    if settings.mqtt is None:
        return None
    relay = CommandRelay(
        pool,
        settings.mqtt,
        f"coldtrail-api-relay-{uuid.uuid4().hex[:8]}",
        resend_s=settings.command_resend_s,
        expire_s=settings.command_expire_s,
    )
    app.state.command_relay = relay
    return asyncio.get_running_loop().create_task(relay.run(), name="command-relay")


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
