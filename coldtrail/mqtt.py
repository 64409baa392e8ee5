"""An MQTT connection driven by the running asyncio loop: paho-mqtt 2 without its network thread.

Why not aiomqtt: ingest must acknowledge a QoS 1 message only after the database commit, and
aiomqtt acknowledges on arrival. paho 2 has manual acknowledgement; this adapter runs paho's
socket on the asyncio loop (paho's documented external-loop hooks), reconnects with exponential
backoff and jitter, and converts paho's message into :class:`IncomingMessage` at the boundary.

Flow control (manual acknowledgement): a received message is *held* until :meth:`ack`. The
broker bounds how many unacknowledged QoS 1 messages it sends at once: with MQTT 5 the client
announces that bound (``receive_maximum``, the CONNECT's Receive Maximum); with MQTT 3.1.1 it is
the broker's own setting (Mosquitto's ``max_inflight_messages``, default 20; amqtt has none).
Whatever the broker does, the connection stops reading its socket while it holds
``receive_maximum`` messages or ``max_held_bytes`` payload bytes, and reads again once
acknowledgements bring it back under both: memory stays bounded, and a slow consumer slows the
broker down (TCP backpressure) instead of growing a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from coldtrail.errors import ServiceUnavailable
from coldtrail.settings import MqttSettings

log = logging.getLogger(__name__)

STABLE_SESSION_S = 10.0
"""A session shorter than this counts as a failed attempt for the backoff."""

READ_BURST = 256
"""Most packets read in one event-loop turn (then other tasks get their turn)."""

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
"""MQTT 5 Session Expiry Interval of a persistent session: as MQTT 3.1.1's clean_session=False."""


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    session: int
    """Which connection delivered it: an acknowledgement is only sent on that connection."""
    arrived: float = 0.0
    """``time.monotonic()`` when it was read from the socket."""


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttConnection:
    """One MQTT session. ``async with`` it; it stays connected (reconnecting) until closed."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        *,
        clean_session: bool = False,
        will: Will | None = None,
        manual_ack: bool = False,
        subscriptions: Sequence[tuple[str, int]] = (),
        on_connected: Callable[[], None] | None = None,
        backoff_max_s: float = 30.0,
        receive_maximum: int | None = None,
        max_held_bytes: int | None = None,
    ) -> None:
        """``receive_maximum`` and ``max_held_bytes`` bound the messages held unacknowledged
        (``manual_ack`` only): see the module's docstring."""
        self._settings = settings
        self._client_id = client_id
        self._subscriptions = list(subscriptions)
        self._on_connected_hook = on_connected
        self._backoff_max_s = backoff_max_s
        self._manual_ack = manual_ack
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._session = 0
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._unawaited: set[int] = set()
        """Message ids of :meth:`publish_nowait` publishes whose PUBACK nobody waits for."""
        self._queue: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._first_failure: str | None = None
        """Why the first connection attempt failed (text only: a kept exception would keep its
        traceback's sockets alive)."""
        self._foreign_topics: set[str] = set()
        self._clean_session = clean_session
        self._receive_maximum = receive_maximum
        self._max_held_bytes = max_held_bytes
        self.held = 0
        """Messages received and not yet acknowledged (``manual_ack``)."""
        self.held_bytes = 0
        """Their payload bytes."""
        self.paused = False
        """Whether reading is paused because the held messages reached a bound."""
        self.pauses = 0
        """How many times reading was paused."""
        self._sock: Any = None
        self._packets_read = 0
        """Messages and PUBACKs read so far (how :meth:`_read` knows the socket still had
        some)."""
        self._topic_subscribed: dict[str, bool] = {}
        self._readable = asyncio.Event()
        self._readable.set()

        v5 = settings.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if v5 else clean_session,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            manual_ack=manual_ack,
        )
        if settings.username:
            client.username_pw_set(settings.username, settings.secret())
        if settings.tls:
            context = ssl.create_default_context(cafile=settings.ca_file)
            if settings.cert_file:
                context.load_cert_chain(settings.cert_file, settings.key_file)
            client.tls_set_context(context)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self._client = client

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> MqttConnection:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, wait_s: float | None = None) -> None:
        """Start connecting (in the background, forever). With ``wait_s``, wait for the first
        CONNACK and raise :class:`ServiceUnavailable` if it does not come in time."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._tasks = [
            asyncio.create_task(self._supervise(), name=f"mqtt-supervise-{self._client_id}"),
            asyncio.create_task(self._misc(), name=f"mqtt-misc-{self._client_id}"),
        ]
        if wait_s is not None:
            try:
                await asyncio.wait_for(self.connected.wait(), wait_s)
            except TimeoutError:
                await self.close()
                cause = f": {self._first_failure}" if self._first_failure else ""
                raise ServiceUnavailable(
                    f"MQTT broker {self._settings.url()} did not accept a connection within"
                    f" {wait_s:.0f} s{cause}"
                ) from None

    async def close(self) -> None:
        self._closing = True
        if self._client.is_connected():
            self._client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), 2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        sock = self._client.socket()
        if sock is not None:  # a connection attempt that never became a session
            assert self._loop is not None
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock)
                self._loop.remove_writer(sock)
            sock.close()
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()
        self._unawaited.clear()

    # -- use ----------------------------------------------------------------------------------

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish; for QoS 1 return once the broker's PUBACK has arrived (paho resends the
        message on reconnect until it does)."""
        assert self._loop is not None, "start() first"
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise ServiceUnavailable(f"cannot publish to {topic}: {paho.error_string(info.rc)}")
        if qos == 0:
            return
        future = self._pending.get(info.mid)
        if future is None:
            future = self._loop.create_future()
            self._pending[info.mid] = future
        try:
            await future
        finally:
            if self._pending.get(info.mid) is future:
                del self._pending[info.mid]

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        """Publish without waiting for the PUBACK (paho sends a QoS 1 message again after a
        reconnection until the broker acknowledges it): for messages no caller waits on, such
        as ingest's storage acknowledgements to the gateways."""
        assert self._loop is not None, "start() first"
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise ServiceUnavailable(f"cannot publish to {topic}: {paho.error_string(info.rc)}")
        if qos:
            self._unawaited.add(info.mid)

    async def messages(self) -> AsyncIterator[IncomingMessage]:
        while True:
            yield await self._queue.get()

    def next_message_nowait(self) -> IncomingMessage | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def next_message(self) -> IncomingMessage:
        return await self._queue.get()

    def ack(self, message: IncomingMessage) -> bool:
        """Acknowledge a QoS 1 message (manual_ack mode), and stop holding it. False if its
        connection is gone: the broker will deliver it again on the new session."""
        if not self._manual_ack:
            return True
        self.held -= 1
        self.held_bytes -= len(message.payload)
        if self.paused and not self._over_bound():
            self._resume_reading()
        if message.qos == 0:
            return True
        if message.session != self._session or not self._client.is_connected():
            return False
        return self._client.ack(message.mid, message.qos) == MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- background ---------------------------------------------------------------------------

    @property
    def protocol(self) -> Literal["3.1.1", "5"]:
        return self._settings.protocol

    def _over_bound(self) -> bool:
        # Also with MQTT 5: Mosquitto 2.0.11 sends one message more than the Receive Maximum.
        if self._receive_maximum is not None and self.held >= self._receive_maximum:
            return True
        return self._max_held_bytes is not None and self.held_bytes >= self._max_held_bytes

    def _pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1
        self._readable.clear()
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)

    def _resume_reading(self) -> None:
        self.paused = False
        self._readable.set()
        if self._sock is not None and self._loop is not None:
            with contextlib.suppress(ValueError, OSError):  # closed meanwhile: reconnecting
                self._loop.add_reader(self._sock, self._read)
                # Bytes already read (a TLS record) wait in the socket object, not the kernel.
                self._loop.call_soon(self._read)

    async def _supervise(self) -> None:
        if self._settings.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = 0 if self._clean_session else SESSION_NEVER_EXPIRES
            if self._receive_maximum is not None:
                properties.ReceiveMaximum = self._receive_maximum
            self._client.connect_async(
                self._settings.host,
                self._settings.port,
                self._settings.keepalive_s,
                clean_start=self._clean_session,
                properties=properties,
            )
        else:
            self._client.connect_async(
                self._settings.host, self._settings.port, self._settings.keepalive_s
            )
        failures = 0  # consecutive attempts that failed, or sessions the broker ended at once
        while not self._closing:
            self._disconnected.clear()
            if not self._readable.is_set():
                # Lost while holding its maximum: reconnect once acknowledgements free room (the
                # broker delivers the unacknowledged messages again on the new session).
                await self._readable.wait()
            try:
                assert self._loop is not None
                await self._loop.run_in_executor(None, self._client.reconnect)
                await asyncio.wait_for(self.connected.wait(), 10)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                reason = str(exc) or type(exc).__name__
                if self._first_failure is None:
                    self._first_failure = reason
                failures += 1
                await self._back_off(failures, f"unreachable ({reason})")
                continue
            since = time.monotonic()
            await self._disconnected.wait()
            if self._closing:
                return
            if time.monotonic() - since < STABLE_SESSION_S:
                # Accepted, then dropped at once (e.g. a broker ACL refusing our publishes):
                # back off as after a failure, or we would reconnect hundreds of times a second.
                failures += 1
                await self._back_off(failures, "closed the connection right after accepting it")
            else:
                failures = 0
                log.warning("MQTT connection to %s lost; reconnecting", self._settings.url())

    async def _back_off(self, failures: int, why: str) -> None:
        """Exponential backoff with jitter: 0.5 s doubling up to ``backoff_max_s``."""
        delay = min(self._backoff_max_s, 0.5 * 2 ** min(failures, 10))
        delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto
        log.warning("MQTT broker %s %s; retrying in %.1f s", self._settings.url(), why, delay)
        await asyncio.sleep(delay)

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(1)
            self._client.loop_misc()

    # -- paho callbacks (run on the loop thread, or on the executor during connect) ------------

    def _call_in_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            # paho closing its socket as the client is garbage-collected after its event loop
            # ended: there is no reader or writer left to remove.
            return
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._socket_opened, sock)

    def _socket_opened(self, sock: Any) -> None:
        assert self._loop is not None
        self._sock = sock
        if not self.paused:
            self._loop.add_reader(sock, self._read)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_in_loop(self._socket_closed, sock)

    def _socket_closed(self, sock: Any) -> None:
        assert self._loop is not None
        if self._sock is sock:
            self._sock = None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._call_in_loop(self._loop.add_writer, sock, client.loop_write)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._call_in_loop(self._loop.remove_writer, sock)

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self._call_in_loop(self._connected, reason)

    def _connected(self, reason: ReasonCode) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s refused the connection: %s", self._settings.url(), reason)
            self._first_failure = f"broker refused: {reason}"
            return
        self._session += 1
        for topic, qos in self._subscriptions:
            self._client.subscribe(topic, qos)
        log.info("MQTT connected to %s as %s", self._settings.url(), self._client_id)
        self.connected.set()
        if self._on_connected_hook is not None:
            self._on_connected_hook()

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self._call_in_loop(self._lost)

    def _lost(self) -> None:
        self.connected.clear()
        self._disconnected.set()

    def _read(self) -> None:
        """The socket is readable: read packets while they keep coming. (paho's loop_read
        reads one packet a call: one event-loop turn per message would be the bottleneck.)"""
        sock = self._sock
        for _ in range(READ_BURST):
            if self.paused or self._sock is not sock:
                return  # also when a read scheduled before the last pause comes late
            before = self._packets_read
            self._client.loop_read()
            if self._packets_read == before:
                return

    def _subscribed(self, topic: str) -> bool:
        known = self._topic_subscribed.get(topic)
        if known is None:
            if len(self._topic_subscribed) >= 100_000:  # bounded, whatever the topics
                self._topic_subscribed.clear()
            known = self._topic_subscribed[topic] = any(
                paho.topic_matches_sub(_unshared(sub), topic) for sub, _ in self._subscriptions
            )
        return known

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._packets_read += 1
        if not self._subscribed(message.topic):
            # Some brokers (amqtt 0.12) deliver retained messages of other clients'
            # subscriptions. Not ours to store: acknowledge and say so.
            if message.topic not in self._foreign_topics:
                self._foreign_topics.add(message.topic)
                log.warning(
                    "the broker delivered %s, which matches none of our subscriptions; ignored",
                    message.topic,
                )
            if self._manual_ack and message.qos > 0:
                client.ack(message.mid, message.qos)
            return
        payload = bytes(message.payload)
        self._queue.put_nowait(
            IncomingMessage(
                topic=message.topic,
                payload=payload,
                qos=message.qos,
                retain=bool(message.retain),
                mid=message.mid,
                session=self._session,
                arrived=time.monotonic(),
            )
        )
        if self._manual_ack:
            self.held += 1
            self.held_bytes += len(payload)
            if not self.paused and self._over_bound():
                self._pause_reading()

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self._packets_read += 1  # a PUBACK read (QoS 1): the socket may hold more
        self._call_in_loop(self._published, mid)

    def _published(self, mid: int) -> None:
        if mid in self._unawaited:
            self._unawaited.discard(mid)
            return
        future = self._pending.get(mid)
        if future is None:
            assert self._loop is not None
            # PUBACK before publish() registered its future: leave a resolved one behind.
            future = self._loop.create_future()
            future.set_result(None)
            self._pending[mid] = future
        elif not future.done():
            future.set_result(None)


def _unshared(subscription: str) -> str:
    """``$share/<group>/<filter>`` -> ``<filter>``."""
    if subscription.startswith("$share/"):
        return subscription.split("/", 2)[2]
    return subscription
