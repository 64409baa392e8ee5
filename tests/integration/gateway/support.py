"""What the gateway's acceptance tests share: a fast BTHome source, brokers the tests restart,
running services as tasks, and reading back what reached the database."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from coldtrail import schema
from coldtrail.localservices.amqtt_broker import AmqttProcessBroker
from coldtrail.localservices.mosquitto import MosquittoBroker, mosquitto_executable
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert, Frame

Key = tuple[str, datetime, int]  # the idempotency key: (device_id, time, seq)


def macs(n: int, prefix: str = "A4:C1:38:20") -> list[str]:
    return [f"{prefix}:{i // 256:02X}:{i % 256:02X}" for i in range(n)]


@dataclass(frozen=True, slots=True)
class Emitted:
    device_id: str
    seq: int
    time: datetime


class BthomeBurstSource:
    """``len(addresses)`` BTHome v2 tags: one advert each per round, a round every
    ``interval_s`` of real time, stamped ``start + k * period_s`` (round ``k``): many minutes
    of 1 Hz readings in a few seconds. Packet ids increase by one per round (mod 256, as the
    one-byte BTHome packet id does). Remembers every reading it emitted, in order.

    ``temperature(k, i)`` gives the temperature of tag ``i`` in round ``k``."""

    def __init__(
        self,
        addresses: list[str],
        rounds: int,
        *,
        interval_s: float = 0.01,
        period_s: float = 1.0,
        start: datetime | None = None,
        temperature: Callable[[int, int], float] = lambda k, i: 4.0 + ((k + i) % 30) / 10,
    ) -> None:
        self.addresses = addresses
        self.rounds = rounds
        self.interval_s = interval_s
        self.period_s = period_s
        self.start = start or datetime.now(UTC) - timedelta(seconds=rounds * period_s)
        self.temperature = temperature
        self.emitted: list[Emitted] = []
        self.finished = asyncio.Event()

    @property
    def name(self) -> str:
        return f"test:bthome-burst-{len(self.addresses)}"

    async def frames(self) -> AsyncIterator[Frame]:
        for k in range(self.rounds):
            at = self.start + timedelta(seconds=k * self.period_s)
            for i, mac in enumerate(self.addresses):
                values = schema.Measurements(
                    temperature_c=self.temperature(k, i), humidity_pct=61.5, battery_pct=88
                )
                payload = bthome.encode_v2(values, packet_id=k % 256)
                self.emitted.append(Emitted(mac, k % 256, at))
                yield BleAdvert(
                    address=mac,
                    received_at=at,
                    rssi=-70,
                    service_data={bthome.SERVICE_UUID: payload},
                    name=f"ATC_{mac[-5:].replace(':', '')}",
                )
            await asyncio.sleep(self.interval_s)
        self.finished.set()


class RestartableBroker:
    """A broker on a fixed port that a test stops and starts again: Mosquitto with persistence
    (sessions survive), or amqtt (they do not: what waited for ingest is lost with the broker,
    and comes again from the gateways, which keep it until ingest acknowledges its storage).
    ``kind`` None: Mosquitto when installed, else amqtt."""

    def __init__(self, port: int = 0, kind: str | None = None) -> None:
        self.kind = kind or ("mosquitto" if mosquitto_executable() else "amqtt")
        self._mosquitto = (
            MosquittoBroker(port, persistence=True) if self.kind == "mosquitto" else None
        )
        self._amqtt: AmqttProcessBroker | None = None
        self.port = port

    def start(self) -> None:
        if self._mosquitto is not None:
            self._mosquitto.start()
            self.port = self._mosquitto.port
        else:
            self._amqtt = AmqttProcessBroker(self.port)
            self._amqtt.start()
            self.port = self._amqtt.port

    def stop(self) -> None:
        if self._mosquitto is not None:
            self._mosquitto.stop()
        elif self._amqtt is not None:
            self._amqtt.stop()
            self._amqtt = None

    def close(self) -> None:
        if self._mosquitto is not None:
            self._mosquitto.close()
        else:
            self.stop()


@contextlib.asynccontextmanager
async def running(
    service: Callable[[asyncio.Event], Coroutine[Any, Any, Any]],
) -> AsyncIterator[tuple[asyncio.Event, asyncio.Task[Any]]]:
    """Run ``service(stop)`` as a task; set ``stop`` and wait for it on the way out."""
    stop = asyncio.Event()
    task = asyncio.create_task(service(stop))
    try:
        yield stop, task
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float, what: str
) -> None:
    """Poll ``predicate``; a plain one runs in a thread, so a blocking database query never
    stalls the event loop that ingest (whose locks it may wait for) runs on."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await asyncio.to_thread(predicate)
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


def stored_keys(database_url: str, gateway_id: str, table: str) -> list[Key]:
    """The idempotency keys stored for ``gateway_id`` in ``table`` (duplicates would repeat)."""
    assert table in ("readings", "positions", "events")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT device_id, time, seq FROM {table} WHERE gateway_id = %s",
            (gateway_id,),
        ).fetchall()
    return [(str(d), t, int(s)) for d, t, s in rows]


def count_rows(database_url: str, gateway_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM readings WHERE gateway_id = %(g)s)"
            " + (SELECT count(*) FROM positions WHERE gateway_id = %(g)s)"
            " + (SELECT count(*) FROM events WHERE gateway_id = %(g)s)",
            {"g": gateway_id},
        ).fetchone()
    assert row is not None
    return int(row[0])


_DECODERS = (
    msgspec.json.Decoder(schema.Reading),
    msgspec.json.Decoder(schema.Position),
    msgspec.json.Decoder(schema.Event),
)
TABLE_OF_KIND = ("readings", "positions", "events")


def outbox_contents(path: Path) -> dict[str, set[Key]]:
    """The idempotency keys of the items in an outbox file, by table, read without writing to
    it (``mode=ro``: the WAL a killed gateway left is read, not checkpointed)."""
    found: dict[str, set[Key]] = {table: set() for table in TABLE_OF_KIND}
    if not path.exists():
        return found
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT kind, body FROM item").fetchall()
    finally:
        db.close()
    for kind, body in rows:
        item = _DECODERS[kind].decode(body)
        time = item.measured_at or item.received_at
        found[TABLE_OF_KIND[kind]].add((item.device_id, time, item.seq))
    return found
