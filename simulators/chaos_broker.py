"""The broker ``coldtrail sim chaos`` starts, and breaks on purpose.

Mosquitto when installed (and not ``--broker amqtt``), with the persistence settings of the
configuration we ship (``deploy/mosquitto/mosquitto.conf``: ``persistence true``, saved every
:data:`~coldtrail.localservices.mosquitto.SHIPPED_AUTOSAVE_INTERVAL_S` seconds and on a clean
stop): a restart (SIGTERM) keeps its sessions and queued messages, a kill (SIGKILL) loses what it
acknowledged since its last save, as a crashed production broker would. Else amqtt in a child
process (so that it can be killed), which keeps everything in memory. Either way the broker
comes back on the same port, so the gateways, ingest and their proxies reconnect to it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

from coldtrail.errors import ConfigError
from simulators.demo import LOCAL_EXTRA_MISSING

if TYPE_CHECKING:
    from coldtrail.localservices.amqtt_broker import AmqttProcessBroker
    from coldtrail.localservices.mosquitto import MosquittoBroker


class OwnBroker:
    """A broker started here, behind the ``AsyncLocalBroker`` interface, that can be broken."""

    def __init__(self, broker: MosquittoBroker | AmqttProcessBroker) -> None:
        self.broker = broker

    @property
    def kind(self) -> Literal["mosquitto", "amqtt"]:
        return self.broker.kind

    @property
    def url(self) -> str:
        return self.broker.url

    @property
    def autosave_interval_s(self) -> int | None:
        """How often its state is saved (Mosquitto); None: never (amqtt, in memory)."""
        return getattr(self.broker, "autosave_interval_s", None)

    @property
    def restartable(self) -> bool:
        """A clean restart keeps its sessions and queued messages (Mosquitto with persistence)."""
        return self.kind == "mosquitto"

    async def start(self) -> None:
        await asyncio.to_thread(self.broker.start)

    async def kill(self) -> None:
        """SIGKILL: nothing saved on the way out."""
        await asyncio.to_thread(self.broker.kill)

    async def restart(self) -> None:
        """SIGTERM (Mosquitto saves its state), then start again on the same port."""
        restart = getattr(self.broker, "restart", None)
        if restart is None:
            raise ConfigError(f"{self.kind}: no clean restart that keeps its state")
        await asyncio.to_thread(restart)

    async def stop(self) -> None:
        """Stop it for good and remove its saved state."""
        close = getattr(self.broker, "close", self.broker.stop)
        await asyncio.to_thread(close)


async def start_own_broker(choice: str) -> OwnBroker:
    """``choice``: ``--broker`` (auto: Mosquitto if installed, else amqtt)."""
    try:
        from coldtrail.localservices.amqtt_broker import AmqttProcessBroker
        from coldtrail.localservices.mosquitto import (
            SHIPPED_AUTOSAVE_INTERVAL_S,
            MosquittoBroker,
            mosquitto_executable,
        )
    except ImportError:
        raise ConfigError(LOCAL_EXTRA_MISSING) from None
    broker: MosquittoBroker | AmqttProcessBroker
    if choice == "amqtt" or not mosquitto_executable():
        broker = AmqttProcessBroker()
    else:
        broker = MosquittoBroker(persistence=True, autosave_interval_s=SHIPPED_AUTOSAVE_INTERVAL_S)
    own = OwnBroker(broker)
    await own.start()
    return own
