"""The gateway's side of the ``cmd`` and ``cmdresult`` topics: commands in, one at a time, and
their results out over the gateway's own MQTT session (QoS 1).

Results wait in the command log until the broker acknowledges them: a broker that is away, or
a gateway that restarts first, delays a result but does not lose it (the unpublished ones go
out at the next start). A ``restart`` command stops the gateway once its result is published.
An error of the command log itself (SQLite: disk full, a corrupt file) never stops the channel:
the command is answered ``failed`` (published without being recorded) and the next one is
handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from coldtrail import commands
from coldtrail.errors import ServiceUnavailable
from gateway.command_log import CommandLog
from gateway.commands import CommandHandler, Handled

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0
RETRY_S = 1.0


class Publisher(Protocol):
    """The gateway's MQTT session, as the channel uses it (an ``MqttConnection``)."""

    @property
    def connected(self) -> asyncio.Event: ...

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Return once the broker acknowledged it (QoS 1)."""
        ...


class CommandChannel:
    def __init__(
        self,
        handler: CommandHandler,
        command_log: CommandLog,
        mqtt: Publisher,
        result_topic: str,
        on_restart: Callable[[], None],
        *,
        publish_timeout_s: float = PUBLISH_TIMEOUT_S,
        retry_s: float = RETRY_S,
    ) -> None:
        self._handler = handler
        self._log = command_log
        self._mqtt = mqtt
        self._topic = result_topic
        self._on_restart = on_restart
        self._timeout_s = publish_timeout_s
        self._retry_s = retry_s
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self._results: asyncio.Queue[Handled] = asyncio.Queue()
        for key, result in command_log.unpublished():
            self._results.put_nowait(Handled(result, key, restart=False))
        self.published = 0

    def received(self, payload: bytes) -> None:
        self._incoming.put_nowait(payload)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._handle_loop())
            tasks.create_task(self._publish_loop())

    async def _handle_loop(self) -> None:
        while True:
            payload = await self._incoming.get()
            try:
                handled = await self._handler.handle(payload)
            except Exception as exc:  # the channel's top loop: a command never stops the gateway
                log.exception("a command could not be handled")
                try:
                    handled = self._handler.failed(payload, exc)
                except Exception:  # the command log itself (a SQLite error): answer anyway
                    log.exception("the command log cannot record the result: sent unrecorded")
                    handled = self._handler.failed(payload, exc, record=False)
            self._results.put_nowait(handled)

    async def _publish_loop(self) -> None:
        while True:
            handled = await self._results.get()
            while True:
                await self._mqtt.connected.wait()
                try:
                    await asyncio.wait_for(
                        self._mqtt.publish(self._topic, commands.encode(handled.result), qos=1),
                        self._timeout_s,
                    )
                    break
                except (TimeoutError, ServiceUnavailable) as exc:
                    log.warning(
                        "result of command %s not acknowledged by the broker (%s): trying again",
                        handled.result.command_id,
                        exc or "timeout",
                    )
                    await asyncio.sleep(self._retry_s)
            if handled.key is not None:
                try:
                    self._log.published(handled.key)
                except Exception:  # a SQLite error: the result may go out again at the next start
                    log.exception("the command log cannot mark result %s published", handled.key)
            self.published += 1
            if handled.restart:
                log.warning("restart command %s: restarting", handled.result.command_id)
                self._on_restart()

    def close(self) -> None:
        self._log.close()
