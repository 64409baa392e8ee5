"""A throw-away MQTT broker on 127.0.0.1: Mosquitto when installed, else the pure-Python amqtt.

- :class:`~coldtrail.localservices.mosquitto.MosquittoBroker` runs the ``mosquitto`` executable
  with ``max_queued_messages 0`` (the default silently drops QoS 1 messages for slow
  subscribers; see ``DESIGN.md``).
- :class:`~coldtrail.localservices.amqtt_broker.AmqttBroker` runs amqtt in the current asyncio
  loop; :class:`~coldtrail.localservices.amqtt_broker.AmqttProcessBroker` in a child process.
  amqtt does not redeliver unacknowledged QoS 1 messages to a persistent session, sends
  connecting clients retained messages they did not subscribe to, speaks MQTT 3.1.1 only and
  has no shared subscriptions (``$share/...`` receives nothing): see that module's docstring.
- :func:`start_local_broker` (synchronous callers: tests, the demo's process launcher) and
  :func:`start_local_broker_async` (the demo's asyncio code) choose between them.

Anonymous clients are allowed: the listeners are bound to 127.0.0.1 only, so only processes on
this machine reach them, and the brokers hold throw-away data.
"""

from __future__ import annotations

import asyncio
from typing import Literal, Protocol

from coldtrail.localservices.amqtt_broker import AmqttBroker, AmqttProcessBroker
from coldtrail.localservices.mosquitto import MosquittoBroker, mosquitto_executable

__all__ = [
    "AmqttBroker",
    "AmqttProcessBroker",
    "AsyncLocalBroker",
    "BrokerKind",
    "LocalBroker",
    "MosquittoBroker",
    "mosquitto_executable",
    "start_local_broker",
    "start_local_broker_async",
]

BrokerKind = Literal["mosquitto", "amqtt"]


class LocalBroker(Protocol):
    """A running broker for synchronous callers."""

    @property
    def kind(self) -> BrokerKind: ...
    @property
    def url(self) -> str: ...
    def stop(self) -> None: ...


class AsyncLocalBroker(Protocol):
    """A running broker for asyncio callers."""

    @property
    def kind(self) -> BrokerKind: ...
    @property
    def url(self) -> str: ...
    async def stop(self) -> None: ...


class _AsyncMosquitto:
    """A :class:`MosquittoBroker` behind the :class:`AsyncLocalBroker` interface."""

    kind: Literal["mosquitto"] = "mosquitto"

    def __init__(self, broker: MosquittoBroker) -> None:
        self._broker = broker

    @property
    def url(self) -> str:
        return self._broker.url

    async def stop(self) -> None:
        await asyncio.to_thread(self._broker.stop)


def _choose(kind: Literal["auto", "mosquitto", "amqtt"]) -> BrokerKind:
    if kind == "auto":
        return "mosquitto" if mosquitto_executable() else "amqtt"
    if kind not in ("mosquitto", "amqtt"):
        raise ValueError(f"broker kind must be auto, mosquitto or amqtt, not {kind!r}")
    return kind


def start_local_broker(kind: Literal["auto", "mosquitto", "amqtt"] = "auto") -> LocalBroker:
    """Start a broker for a synchronous caller; ``auto`` = Mosquitto if installed, else amqtt.

    amqtt runs in a child process here (the caller has no asyncio loop to lend it).
    """
    broker: MosquittoBroker | AmqttProcessBroker
    broker = MosquittoBroker() if _choose(kind) == "mosquitto" else AmqttProcessBroker()
    broker.start()
    return broker


async def start_local_broker_async(
    kind: Literal["auto", "mosquitto", "amqtt"] = "auto",
) -> AsyncLocalBroker:
    """Start a broker for the demo: Mosquitto if installed (``auto``), else amqtt in this loop."""
    if _choose(kind) == "mosquitto":
        mosquitto = MosquittoBroker()
        await asyncio.to_thread(mosquitto.start)
        return _AsyncMosquitto(mosquitto)
    amqtt = AmqttBroker()
    await amqtt.start()
    return amqtt
