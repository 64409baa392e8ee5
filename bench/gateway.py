"""The gateway as it runs in a van, side by side with thingsboard-gateway 3.8.5 (``--peer``).

Input, the same for both (there is no Bluetooth on the bench machine): **50 sensor boards, one
reading a second each** (temperature, humidity, battery; spread over the second), as the frames
of the sensor-board protocol (docs/serial-protocol.md). coldtrail's gateway (``coldtrail gateway
--config``, the real command, in its own process, disk outbox) reads them from a serial port (a
pty, ``protocol = "board"``); the peer (bench/_thingsboard.py) gets the same frames as MQTT
messages on a second Mosquitto that stays up, read by its MQTT connector (its socket connector
handles at most 5 datagrams a second). Both publish with QoS 1 to a Mosquitto started here, with
persistence, on 127.0.0.1. Readings not received ``SETTLE_S`` after the input stops are counted
(``not_received_within_20s``: late or lost, the bench cannot tell which).

**The input is not symmetric.** The peer receives 50 QoS 1 MQTT messages a second (one per
reading: its CPU includes an MQTT client receiving and acknowledging each); coldtrail reads one
pty chunk every 0.1 s (about five frames per read). The ratios compare the two gateways as each
would be fed in a van with boards, not the same work per reading.

**Serial-only van.** These rounds load no BLE code in coldtrail's gateway (bthome-ble and bleak
are imported only for BLE sensors). A third measurement, ``coldtrail_ble``, is the gateway fed as
main's earlier bench fed it: 50 configured BTHome tags at one advert a second each through its
real BLE source on a replaying bleak backend, plus a 1 Hz GPS (bench/_coldtrail_ble.py): steady
state only (RSS, CPU per 1,000 readings), no outage.

Per system and round:

1. **Steady state.** After ``WARMUP_S``, RSS (``/proc/<pid>/statm``: mean and max of one sample
   a second) and CPU (``utime + stime`` of ``/proc/<pid>/stat``, all threads) over
   ``MEASURE_S``: CPU seconds per 1,000 readings.
2. **Broker outage.** The broker stops for ``OUTAGE_S`` (3,000 readings pile up at 50/s) and
   starts again; the drain time is from its start until every reading sent before it has
   arrived. Then the input stops; readings lost = sent - distinct received.

A subscriber here stands in for the server side: for coldtrail it is ingest's storage
acknowledgement (``stored``, so the gateway forgets its readings as in production); for the peer
it answers ThingsBoard's session-limits request (no limits). Prints one JSON object with the
load average before and after. Figures are of this machine, not of a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from bench import _coldtrail_ble as ble_round
from bench import _thingsboard as thingsboard
from coldtrail import schema, topics
from coldtrail.localservices.mosquitto import MosquittoBroker
from firmware_bridge.board import messages, protocol
from simulators.pty import PtySerialDevice

SENSORS = 50
WARMUP_S = 10.0
MEASURE_S = 30.0
OUTAGE_S = 60.0
DRAIN_TIMEOUT_S = 90.0
SETTLE_S = 20.0
GATEWAY_ID = "gw-bench"
PREFIX = "bench"
GOALS = {
    "rss_mb_max": 40,
    "cpu_ratio_peer_over_coldtrail": 5,
    "drain_s": 5,
    "not_received_within_20s": 0,
}
COLDTRAIL_INPUT = (
    "sensor-board frames on a pty serial port (serial source, protocol board), read in one"
    " chunk every 0.1 s (about 5 frames per read)"
)
BLE_INPUT = (
    "50 configured BTHome v2 tags, 1 advert/s each, through the gateway's BLE source on a"
    " replaying bleak backend (no BlueZ/D-Bus), and a 1 Hz GPS (RMC+GGA)"
)
ASYMMETRY = (
    "the peer receives 50 QoS 1 MQTT messages/s (one per reading, its MQTT connector"
    " acknowledges each); coldtrail reads one pty chunk per 0.1 s: not the same input work per"
    " reading"
)


class Feed(threading.Thread):
    """50 boards, one reading frame a second each, spread over the second; ``send(i, frame)``."""

    def __init__(self, send: Callable[[int, bytes], None]) -> None:
        super().__init__(daemon=True)
        self._send = send
        self.sent = 0
        self.stop = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        step = 1.0 / SENSORS
        second = 0
        while not self.stop.is_set():
            for i in range(SENSORS):
                delay = start + second + i * step - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    return
                reading = messages.Reading(
                    board_id=0xB0000 + i,
                    seq=second + 1,
                    temperature_c=4.0 + ((second + i) % 20) / 10,
                    humidity_pct=61.5,
                    battery_pct=88,
                )
                self._send(i, protocol.encode(reading))
                self.sent += 1
            second += 1


class Collector:
    """The server side: counts distinct readings, acknowledges storage (coldtrail) or answers
    the session-limits request (peer)."""

    def __init__(self, port: int, system: str) -> None:
        self.system = system
        self.keys: set[tuple[str, object]] = set()
        self.messages = 0
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{system}", clean_session=False
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.2, 0.5)
        self._client.connect_async("127.0.0.1", port)
        self._client.loop_start()

    @property
    def received(self) -> int:
        return len(self.keys)

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        if self.system == "coldtrail":
            client.subscribe(topics.telemetry(GATEWAY_ID, PREFIX), qos=1)
        else:
            client.subscribe(thingsboard.TELEMETRY_TOPIC, qos=1)
            client.subscribe("v1/devices/me/rpc/request/+", qos=1)

    def _on_message(self, client: mqtt.Client, _: object, message: mqtt.MQTTMessage) -> None:
        self.messages += 1
        if message.topic.startswith("v1/devices/me/rpc/request/"):
            request_id = message.topic.rsplit("/", 1)[1]
            limits = {"maxPayloadSize": 65536, "maxInflightMessages": 100, "rateLimits": {}}
            limits["gatewayRateLimits"] = {}
            client.publish(f"v1/devices/me/rpc/response/{request_id}", json.dumps(limits), qos=1)
        elif self.system == "coldtrail":
            batch = schema.decode_batch(message.payload)
            self.keys.update((r.device_id, (r.seq, r.received_at)) for r in batch.readings)
            ack = schema.StoredAck(
                gateway_id=GATEWAY_ID,
                at=datetime.now(UTC),
                batches=[schema.digest(message.payload)],
            )
            client.publish(topics.stored(GATEWAY_ID, PREFIX), schema.encode(ack), qos=1)
        else:
            for device, entries in json.loads(message.payload).items():
                self.keys.update((device, entry["ts"]) for entry in entries)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident * resource.getpagesize() / 2**20


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_coldtrail(
    workdir: Path, port: int
) -> tuple[subprocess.Popen[bytes], Callable[[int, bytes], None], Callable[[], None]]:
    pty = PtySerialDevice()
    config = workdir / "gateway.toml"
    config.write_text(
        f'gateway_id = "{GATEWAY_ID}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntopic_prefix = "{PREFIX}"\n'
        f'[outbox]\npath = "{workdir / "outbox.sqlite"}"\n'
        f'[[serial]]\npath = "{pty.path}"\nbaud = 115200\nprotocol = "board"\n'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coldtrail.cli",
            "--log-level",
            "WARNING",
            "gateway",
            "--config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "gateway.log", "wb"),
    )

    def send(_: int, frame: bytes) -> None:
        pty.write(frame)
        pty.read_available()  # the gateway's time sync on connect

    return proc, send, pty.close


def start_peer(
    workdir: Path, port: int
) -> tuple[subprocess.Popen[bytes], Callable[[int, bytes], None], Callable[[], None]]:
    exe = thingsboard.python()
    source = MosquittoBroker(0)  # the boards' side: stays up during the outage
    source.start()
    config = thingsboard.write_config(workdir, exe, port=port, input_port=source.port)
    proc = subprocess.Popen(
        thingsboard.command(exe),
        cwd=workdir,
        env={**os.environ, "TB_GW_CONFIG_DIR": str(config)},
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "gateway.log", "wb"),
    )
    boards = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-boards")
    boards.max_queued_messages_set(0)
    boards.connect("127.0.0.1", source.port)
    boards.loop_start()

    def send(i: int, frame: bytes) -> None:
        boards.publish(f"boards/{i:04d}/frame", frame, qos=1)

    def close() -> None:
        boards.loop_stop()
        boards.disconnect()
        source.close()

    return proc, send, close


def steady_state(pid: int, readings: Callable[[], int]) -> dict[str, float]:
    """Over ``MEASURE_S``: RSS (one sample a second: mean and max), ``readings()``'s growth
    per second and the process's CPU seconds per 1,000 of them."""
    rss: list[float] = []
    count0, cpu0, t0 = readings(), proc_cpu_s(pid), time.monotonic()
    while time.monotonic() - t0 < MEASURE_S:
        rss.append(proc_rss_mb(pid))
        time.sleep(1.0)
    count1, cpu1, t1 = readings(), proc_cpu_s(pid), time.monotonic()
    return {
        "rss_mb_mean": round(sum(rss) / len(rss), 1),
        "rss_mb_max": round(max(rss), 1),
        "readings_per_s": round((count1 - count0) / (t1 - t0), 1),
        "cpu_s_per_1000_readings": round(1000 * (cpu1 - cpu0) / max(1, count1 - count0), 3),
    }


def run_system(system: str, root: Path) -> dict[str, object]:
    workdir = root / system
    workdir.mkdir(parents=True)
    broker = MosquittoBroker(0, persistence=True)
    broker.start()
    port = broker.port
    collector = Collector(port, system)
    start = start_coldtrail if system == "coldtrail" else start_peer
    proc, send, close = start(workdir, port)
    feed = Feed(send)
    result: dict[str, object] = {"system": system, "load_before": loadavg()}
    try:
        time.sleep(5.0)  # the gateway starts and connects before the first frame
        feed.start()
        time.sleep(WARMUP_S)
        if proc.poll() is not None:
            raise RuntimeError(f"{system} exited with {proc.returncode}: see {workdir}/gateway.log")
        result.update(steady_state(proc.pid, lambda: feed.sent))
        sent_at_outage = feed.sent
        broker.stop()
        time.sleep(OUTAGE_S)
        backlog = feed.sent
        broker.start()
        back = time.monotonic()
        while collector.received < backlog and time.monotonic() - back < DRAIN_TIMEOUT_S:
            time.sleep(0.02)
        drained = time.monotonic() - back
        feed.stop.set()
        feed.join()
        settle = time.monotonic()
        while collector.received < feed.sent and time.monotonic() - settle < SETTLE_S:
            time.sleep(0.1)
        result.update(
            outage_s=OUTAGE_S,
            backlog_readings=backlog - sent_at_outage,
            drain_s=round(drained, 2) if collector.received >= backlog else None,
            sent=feed.sent,
            received=collector.received,
            not_received_within_20s=feed.sent - collector.received,
            load_after=loadavg(),
        )
    finally:
        feed.stop.set()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        close()
        collector.close()
        broker.close()
    return result


def run_ble(root: Path) -> dict[str, object]:
    """coldtrail's gateway with 50 BTHome tags over its BLE path: steady-state RSS and CPU."""
    workdir = root / "coldtrail-ble"
    workdir.mkdir(parents=True)
    broker = MosquittoBroker(0, persistence=True)
    broker.start()
    collector = Collector(broker.port, "coldtrail")
    config = workdir / "gateway.toml"
    config.write_text(
        ble_round.config_text(GATEWAY_ID, broker.port, PREFIX, str(workdir / "outbox.sqlite"))
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._coldtrail_ble", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "gateway.log", "wb"),
    )
    result: dict[str, object] = {"system": "coldtrail-ble", "load_before": loadavg()}
    try:
        time.sleep(5.0 + WARMUP_S)
        if proc.poll() is not None:
            raise RuntimeError(f"coldtrail-ble exited with {proc.returncode}: see {workdir}")
        result.update(
            steady_state(proc.pid, lambda: collector.received),
            readings_counted="distinct readings received by the collector in the window",
            load_after=loadavg(),
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        collector.close()
        broker.close()
    return result


def summary(runs: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """Per system, over its rounds: the worst RSS and drain, the mean CPU, readings not
    received ``SETTLE_S`` after the input stopped."""
    out: dict[str, dict[str, object]] = {}
    for system in dict.fromkeys(str(r["system"]) for r in runs):
        mine = [r for r in runs if r["system"] == system]
        drains = [r["drain_s"] for r in mine]
        out[system] = {
            "rss_mb_max": max(float(r["rss_mb_max"]) for r in mine),
            "cpu_s_per_1000_readings": round(
                sum(float(r["cpu_s_per_1000_readings"]) for r in mine) / len(mine),
                3,
            ),
            "drain_s_max": None if None in drains else max(float(d) for d in drains),
            "not_received_within_20s": sum(int(r["not_received_within_20s"]) for r in mine),
        }
    return out


def main(peer: str | None, rounds: int) -> dict[str, object]:
    systems = ["coldtrail"] + ([peer] if peer else [])
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for system in systems if r % 2 == 0 else systems[::-1]:
                print(f"round {r + 1}: {system} ...", file=sys.stderr, flush=True)
                runs.append(run_system(system, Path(tmp) / f"round{r + 1}"))
        print("coldtrail over BLE ...", file=sys.stderr, flush=True)
        ble = run_ble(Path(tmp))
    out: dict[str, object] = {
        "input": {
            "sensors": SENSORS,
            "readings_per_s": SENSORS,
            "coldtrail": COLDTRAIL_INPUT,
            "coldtrail_ble": BLE_INPUT,
        },
        "warmup_s": WARMUP_S,
        "measured_s": MEASURE_S,
        "outage_s": OUTAGE_S,
        "not_received_counted_s_after_input_end": SETTLE_S,
        "broker": "mosquitto (persistence on)",
        "runs": runs,
        "goals": GOALS,
    }
    out["summary"] = summary(runs)
    out["coldtrail_ble"] = ble
    if peer:
        out["input"][peer] = thingsboard.INPUT  # type: ignore[index]
        out["input"]["asymmetry"] = ASYMMETRY  # type: ignore[index]
        out["peer_version"] = thingsboard.VERSION
        ours = [r for r in runs if r["system"] == "coldtrail"]
        theirs = [r for r in runs if r["system"] == peer]
        out["ratios_peer_over_coldtrail"] = {
            key: round(
                sum(float(t[key]) for t in theirs)
                / len(theirs)
                / (sum(float(o[key]) for o in ours) / len(ours)),
                2,
            )
            for key in ("cpu_s_per_1000_readings", "rss_mb_mean")
        }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peer", choices=["thingsboard"], help="measure thingsboard-gateway too")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (default 1)")
    parser.add_argument("--measure-s", type=float, default=MEASURE_S, help="steady state (30)")
    parser.add_argument("--outage-s", type=float, default=OUTAGE_S, help="broker outage (60)")
    args = parser.parse_args()
    MEASURE_S, OUTAGE_S = args.measure_s, args.outage_s
    print(json.dumps(main(args.peer, args.rounds), indent=2))
