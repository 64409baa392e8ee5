"""Acceptance (issue 15, item 2): the broker is killed with SIGKILL while ingest is down, then
the broker and ingest start again: every reading the sensors sent is stored exactly once.

Each test starts its **own** broker so that it can SIGKILL it: Mosquitto with the configuration
we ship (deploy/mosquitto/mosquitto.conf: persistence saved every 60 s, so what arrived since
the last save dies with the process), and amqtt (state in memory only: everything dies). Ingest
ran before (its persistent session exists) and is stopped; a gateway with a disk outbox
publishes its readings, which the broker acknowledges (PUBACK) and queues for ingest; then the
broker is killed and started again on the same port, and ingest too.

A second gateway in the same run publishes with ``await_stored = false`` (forgetting at the
broker's PUBACK, as gateways did before storage acknowledgements): its readings are lost, which
shows that the kill did lose what the broker held, and that the first gateway's are stored only
because it waits for ingest's acknowledgement.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from coldtrail.localservices import (
    LOOPBACK,
    RunAs,
    end_process,
    free_tcp_port,
    make_temp_dir,
    port_accepts,
    read_line,
    wait_until,
)
from coldtrail.localservices.mosquitto import mosquitto_executable
from coldtrail.settings import GatewaySettings, IngestSettings, MqttSettings, SensorSettings
from gateway.service import Gateway
from ingest import migrate
from ingest import service as ingest_service
from tests.integration.gateway.support import (
    BthomeBurstSource,
    macs,
    running,
    stored_keys,
    wait_for,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
SENSORS = 20
ROUNDS = 100  # 2,000 readings for the gateway that waits for storage
LEGACY_ROUNDS = 25  # 250 readings for the one that forgets at PUBACK
KINDS = ["amqtt", *(["mosquitto"] if mosquitto_executable() else [])]


class KillableBroker:
    """A broker in a child process on a fixed port, that the test kills with SIGKILL."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_tcp_port()
        self.who = (
            RunAs.lookup("mosquitto") or RunAs.lookup("nobody") if os.geteuid() == 0 else None
        )
        self.dir = make_temp_dir(f"cttest-{kind}-", self.who if kind == "mosquitto" else None)
        self.proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None

    def config(self) -> str:
        """The shipped configuration, but on 127.0.0.1:<port>, anonymous, state in our folder."""
        text = SHIPPED_CONF.read_text()
        assert "\nautosave_interval 60\n" in text and "\npersistence true\n" in text
        lines = []
        for line in text.splitlines():
            key = line.split(" ", 1)[0]
            if key == "listener":
                line = f"listener {self.port} {LOOPBACK}"
            elif key in ("password_file", "acl_file"):
                continue
            elif key == "allow_anonymous":
                line = "allow_anonymous true"
            elif key == "persistence_location":
                line = f"persistence_location {self.dir}/"
            elif key == "log_dest":
                line = "log_dest stderr"
            lines.append(line)
        if self.who is not None:
            lines.append(f"user {self.who.name}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        log = (self.dir / "broker.log").open("ab")
        if self.kind == "mosquitto":
            executable = mosquitto_executable()
            assert executable is not None
            config = self.dir / "mosquitto.conf"
            config.write_text(self.config())
            self.proc = subprocess.Popen(
                [executable, "-c", str(config)], stdin=subprocess.DEVNULL, stderr=log, stdout=log
            )
            assert wait_until(lambda: port_accepts(self.port), 10), self.log()
        else:
            main = "coldtrail.localservices.amqtt_main"
            proc = subprocess.Popen(
                [sys.executable, "-m", main, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            self.proc = proc
            assert proc.stdout is not None
            assert read_line(proc.stdout, 20).startswith("READY"), self.log()
        log.close()

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        assert self.proc.returncode == -signal.SIGKILL
        self._forget_process()

    def close(self) -> None:
        if self.proc is not None:
            end_process(self.proc, self.kind)
            self._forget_process()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _forget_process(self) -> None:
        assert self.proc is not None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def log(self) -> str:
        path = self.dir / "broker.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@pytest.mark.parametrize("kind", KINDS)
async def test_a_broker_sigkill_with_ingest_down_loses_nothing_once_storage_is_acknowledged(
    kind: str, tmp_path: Path, database_url: str, topic_prefix: str
) -> None:
    broker = KillableBroker(kind)
    await asyncio.to_thread(broker.start)
    try:
        await _kill_while_ingest_is_down(broker, tmp_path, database_url, topic_prefix)
    finally:
        await asyncio.to_thread(broker.close)


def _gateway(
    gateway_id: str, mqtt: MqttSettings, addresses: list[str], outbox: Path, **more: object
) -> GatewaySettings:
    return GatewaySettings(
        gateway_id=gateway_id,
        mqtt=mqtt,
        sensors=[SensorSettings(mac=mac, kind="bthome") for mac in addresses],
        batch_max_items=100,
        batch_max_wait_s=0.05,
        outbox={"path": str(outbox)},  # type: ignore[arg-type]
        **more,  # type: ignore[arg-type]
    )


async def _kill_while_ingest_is_down(
    broker: KillableBroker, tmp_path: Path, database_url: str, topic_prefix: str
) -> None:
    await asyncio.to_thread(migrate.migrate, database_url)
    run = uuid.uuid4().hex[:6]
    mqtt = MqttSettings(port=broker.port, topic_prefix=topic_prefix)
    ingest_settings = IngestSettings(
        client_id=f"ingest-{run}",
        mqtt=mqtt,
        database={"url": database_url},  # type: ignore[arg-type]
        batch_max_wait_s=0.1,
        rules=False,
    )
    # Ingest was running (its persistent session and subscriptions exist), then stops.
    async with running(lambda stop: ingest_service.run(ingest_settings, stop)) as (_, first):
        await asyncio.sleep(1.0)
    assert first.exception() is None

    waits_id, forgets_id = f"gw-waits-{run}", f"gw-forgets-{run}"
    waits_source = BthomeBurstSource(macs(SENSORS, "A4:C1:38:40"), ROUNDS, interval_s=0.005)
    forgets_source = BthomeBurstSource(
        macs(SENSORS, "A4:C1:38:41"), LEGACY_ROUNDS, interval_s=0.005
    )
    waits = Gateway(
        _gateway(
            waits_id,
            mqtt,
            waits_source.addresses,
            tmp_path / "waits.sqlite",
            stored_resend_s=1.0,
        ),
        [waits_source],
    )
    forgets = Gateway(
        _gateway(
            forgets_id,
            mqtt,
            forgets_source.addresses,
            tmp_path / "forgets.sqlite",
            await_stored=False,
        ),
        [forgets_source],
    )
    total, legacy_total = SENSORS * ROUNDS, SENSORS * LEGACY_ROUNDS

    async with running(waits.run), running(forgets.run):
        await wait_for(
            lambda: waits.published == total and forgets.published == legacy_total,
            60,
            "both gateways to publish every reading (the broker acknowledged them)",
        )
        # Published and acknowledged by the broker, not by ingest: one gateway still holds them.
        assert waits.pending == total and waits.awaiting_storage == total
        assert forgets.pending == 0
        status = waits.status()
        assert status.awaiting_storage == total and status.stored_through is None

        await asyncio.to_thread(broker.kill)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(broker.start)
        async with running(lambda stop: ingest_service.run(ingest_settings, stop)) as (_, ingest):
            await wait_for(
                lambda: len(stored_keys(database_url, waits_id, "readings")) >= total,
                90,
                "every reading of the gateway that waits for storage to be stored",
            )
            await wait_for(lambda: waits.pending == 0, 30, "the acknowledgements to empty it")
            await asyncio.sleep(1.0)  # anything more would be a duplicate
            status = waits.status()
        assert ingest.exception() is None
    stats = ingest.result()
    assert stats.dead_letters == {}
    assert stats.stored_acks > 0

    keys = stored_keys(database_url, waits_id, "readings")
    emitted = [(e.device_id, e.time, e.seq) for e in waits_source.emitted]
    assert len(emitted) == total
    assert len(keys) == total, "a reading stored twice"
    assert set(keys) == set(emitted), "a reading lost, or one no sensor sent"
    assert waits.resent > 0  # what the broker lost came again from the gateway's outbox
    assert status.awaiting_storage == 0 and "storage-unacknowledged" not in status.alarms
    assert status.stored_through == max(e.time for e in waits_source.emitted)

    # The gateway that forgot at PUBACK lost what the killed broker held.
    lost = legacy_total - len(stored_keys(database_url, forgets_id, "readings"))
    assert lost > 0, f"the {broker.kind} kill lost nothing: the test proves nothing"
