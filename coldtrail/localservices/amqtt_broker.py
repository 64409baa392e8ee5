"""The pure-Python amqtt broker as a throw-away broker, in this asyncio loop or a child process.

:class:`AmqttBroker` runs in the current asyncio loop (the demo); :class:`AmqttProcessBroker`
runs it in a child process (``python -m coldtrail.localservices.amqtt_main``) for synchronous
callers such as the test fixtures. Both listen on 127.0.0.1 only and let anonymous clients in.

What amqtt 0.12.1 does differently from Mosquitto (read in its source, checked with
paho-mqtt 2.2.0). Connecting, QoS 1 with PUBACK, retained messages and last wills work, and
a ``clean_session=False`` client gets the messages published while it was away. But:

- **Unacknowledged messages are not redelivered.** A QoS 1 message that a subscriber received
  but had not acknowledged when its connection dropped is forgotten: the subscriber's persistent
  session does not get it again (Mosquitto resends it with DUP). A consumer that acknowledges
  after its commit (ingest) therefore loses such messages on amqtt: at-least-once holds only
  on Mosquitto.
- **A PUBACK later than 5 s** ends amqtt's tracking of that message (logged at ERROR by
  ``amqtt.broker``: "Task failed and will be skipped"); it was written to the connection and
  normally arrives, but is never resent. There is no in-flight window and no queue limit: a
  burst is written to the subscriber at once and held in memory, nothing is dropped for a
  queue limit.
- **A connecting client receives retained messages it did not subscribe to**: those matching
  *any* client's subscriptions (``Broker._handle_client_session``).
- Messages kept for a disconnected client are delivered on reconnection with the RETAIN flag
  set, and messages go out at the subscription's QoS, not the lower of the two.
- MQTT 3.1.1 only: an MQTT 5 (or 3.1) CONNECT is refused ("Unsupported protocol version").
- No shared subscriptions: ``$share/<group>/<filter>`` is taken as a literal filter and
  silently receives nothing, so several ingest workers cannot share a subscription.
- Its ``AnonymousAuthPlugin`` marks every client anonymous, and amqtt keeps nothing for a
  disconnected anonymous client: the brokers here use :class:`OpenAuthPlugin` instead.
- Everything (retained messages, sessions) is in memory only.

Use Mosquitto for load tests and for anything that checks delivery guarantees.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Literal

from amqtt.broker import Broker
from amqtt.errors import BrokerError
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

from coldtrail.errors import ServiceUnavailable
from coldtrail.localservices import (
    LOOPBACK,
    StoppableService,
    end_process,
    free_tcp_port,
    make_temp_dir,
    read_line,
    tail_file,
)

log = logging.getLogger(__name__)

_AMQTT_MAIN = "coldtrail.localservices.amqtt_main"


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Lets every client in, without marking it anonymous.

    amqtt's own ``AnonymousAuthPlugin`` marks every session anonymous, and amqtt keeps no
    messages for (and forgets) a disconnected anonymous ``clean_session=False`` client.
    """

    async def authenticate(self, *, session: Session) -> bool:
        return True


class AmqttBroker:
    """The amqtt broker in the running asyncio loop, on a free port of 127.0.0.1 (or ``port``).

    ``disconnect_grace_s`` is added to each client's keep-alive before amqtt drops a silent
    client (amqtt waits exactly the keep-alive; MQTT says 1.5 times it).
    """

    kind: Literal["amqtt"] = "amqtt"

    def __init__(self, port: int = 0, *, disconnect_grace_s: int = 10) -> None:
        self._requested_port = port
        self._grace = disconnect_grace_s
        self._broker: Broker | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        if self._broker is None:
            raise RuntimeError("AmqttBroker.start() has not been awaited (or stop() has)")
        return f"mqtt://{LOOPBACK}:{self.port}"

    def config(self, port: int) -> dict[str, object]:
        """The amqtt configuration dictionary (see ``amqtt.contexts.BrokerConfig``)."""
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{port}"}},
            "timeout_disconnect_delay": self._grace,
            "plugins": {f"{__name__}.{OpenAuthPlugin.__name__}": {}},
        }

    async def start(self) -> str:
        """Start listening; return :attr:`url`."""
        if self._broker is not None:
            return self.url
        for attempt in range(3):
            port = self._requested_port or free_tcp_port()
            broker = Broker(self.config(port))
            try:
                await broker.start()
            except BrokerError as exc:
                if self._requested_port or attempt == 2:
                    raise ServiceUnavailable(
                        f"amqtt broker could not listen on {LOOPBACK}:{port}: {exc}"
                    ) from exc
                continue
            self._broker, self.port = broker, port
            log.info("amqtt broker listening on %s:%d", LOOPBACK, port)
            break
        return self.url

    async def stop(self) -> None:
        """Close every connection and the listener. Idempotent."""
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
            log.info("amqtt broker on %s:%d stopped", LOOPBACK, self.port)

    async def __aenter__(self) -> AmqttBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class AmqttProcessBroker(StoppableService):
    """The amqtt broker in a child process (``coldtrail.localservices.amqtt_main``)."""

    kind: Literal["amqtt"] = "amqtt"

    def __init__(self, port: int = 0, *, start_timeout: float = 20.0) -> None:
        self._requested_port = port
        self._start_timeout = start_timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._dir: Path | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        if self._proc is None:
            raise RuntimeError("AmqttProcessBroker.start() has not been called (or stop() has)")
        return f"mqtt://{LOOPBACK}:{self.port}"

    def start(self) -> str:
        """Start the child and wait for its ``READY <port>`` line; return :attr:`url`."""
        with self._lock:
            if self._proc is not None:
                return self.url
            self._dir = make_temp_dir("coldtrail-amqtt-")
            log_path = self._dir / "amqtt.log"
            with log_path.open("ab") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-m", _AMQTT_MAIN, "--port", str(self._requested_port)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log_file,
                    text=True,
                )
            self._proc = proc
            assert proc.stdout is not None
            line = read_line(proc.stdout, self._start_timeout)
            if not line.startswith("READY "):
                end_process(proc, "amqtt broker")
                output = tail_file(log_path)
                self._cleanup()
                raise ServiceUnavailable(
                    f"the amqtt broker process did not report READY (exit code "
                    f"{proc.returncode}, waited up to {self._start_timeout} s); its output:\n"
                    f"{output}"
                )
            self.port = int(line.split()[1])
            atexit.register(self.stop)
            log.info("amqtt broker (pid %d) listening on %s:%d", proc.pid, LOOPBACK, self.port)
            return self.url

    def kill(self) -> None:
        """SIGKILL the child, as a crash would (amqtt keeps everything in memory: its sessions
        and queued messages are gone); the next :meth:`start` listens on the same port."""
        with self._lock:
            proc = self._proc
            if proc is not None:
                proc.kill()
                proc.wait()
                self._requested_port = self._requested_port or self.port
            self._cleanup()

    def stop(self) -> None:
        """SIGTERM the child (SIGKILL after 10 s) and remove its log. Idempotent."""
        with self._lock:
            atexit.unregister(self.stop)
            self._cleanup()

    def _cleanup(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            end_process(proc, "amqtt broker")
            if proc.stdout is not None:
                proc.stdout.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
