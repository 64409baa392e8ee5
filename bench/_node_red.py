"""The Node-RED peer of ``python -m bench.ingest --peer node-red``: the glue flow a team would
write instead of coldtrail's ingest, run against the same Mosquitto, PostgreSQL and messages.

The flow (issue 19): mqtt-in (QoS 1, a persistent session, JSON) → a function node that builds
one multi-row ``INSERT … ON CONFLICT DO NOTHING`` per message → a ``pg`` pool of 10 connections.
Node-RED 4 and ``pg`` 8 are installed with npm into ``bench/.peers/node-red`` (gitignored) the
first time, and reused afterwards. Node-RED's MQTT node acknowledges each message on arrival,
before its row is written (coldtrail acknowledges after the commit): its figure is what a flow
that can lose data reaches.

The clock runs from Node-RED's connection to the broker (its log line) until the table holds
every published reading (polled every 20 ms), with the backlog already queued in its session,
as for coldtrail's runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from coldtrail.settings import parse_mqtt_url

HERE = Path(__file__).parent / ".peers" / "node-red"
PACKAGES = ("node-red@4", "pg@8")
POOL = 10

# One row per reading; the columns a glue flow would fill from the message (the same
# idempotency key as coldtrail: device_id, time, seq).
FUNCTION = r"""
let pool = context.get('pool');
if (!pool) {
    const pg = global.get('pg');
    pool = new pg.Pool({connectionString: env.get('DATABASE_URL'), max: %(pool)d});
    context.set('pool', pool);
}
const m = msg.payload;
const values = [];
const params = [];
for (const r of m.readings) {
    const at = r.measured_at || r.received_at;
    const i = params.length;
    params.push(at, r.device_id, r.seq, r.seq_source, m.gateway_id, r.measured_at || null,
                r.received_at, r.temperature_c ?? null, r.humidity_pct ?? null,
                r.battery_pct ?? null);
    values.push('($' + (i + 1) + ',$' + (i + 2) + ',$' + (i + 3) + ',$' + (i + 4) + ',$'
                + (i + 5) + ',$' + (i + 6) + ',$' + (i + 7) + ',$' + (i + 8) + ',$' + (i + 9)
                + ',$' + (i + 10) + ')');
}
if (values.length === 0) { return null; }
const sql = 'INSERT INTO readings (time, device_id, seq, seq_source, gateway_id, measured_at,'
    + ' received_at, temperature_c, humidity_pct, battery_pct) VALUES ' + values.join(',')
    + ' ON CONFLICT DO NOTHING';
pool.query(sql, params).then(() => node.done()).catch((err) => node.error(err, msg));
return null;
"""

SETTINGS = """module.exports = {
    uiPort: %(port)d,
    uiHost: "127.0.0.1",
    flowFile: "flows.json",
    credentialSecret: false,
    httpNodeRoot: false,
    editorTheme: {tours: false},
    functionGlobalContext: {pg: require(%(pg)s)},
    logging: {console: {level: "info", metrics: false, audit: false}},
};
"""


def ensure_installed() -> Path:
    """Node-RED's executable script, installed with npm into :data:`HERE` unless it is there."""
    script = HERE / "node_modules" / "node-red" / "red.js"
    if script.exists() and (HERE / "node_modules" / "pg").is_dir():
        return script
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("--peer node-red needs npm (and node) on PATH")
    HERE.mkdir(parents=True, exist_ok=True)
    package = HERE / "package.json"
    if not package.exists():
        package.write_text('{"name": "coldtrail-bench-node-red", "private": true}\n')
    print(f"  installing {' '.join(PACKAGES)} into {HERE} ...", file=sys.stderr, flush=True)
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", *PACKAGES],
        cwd=HERE,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return script


def flows(mqtt_url: str, topic: str, client_id: str) -> list[dict[str, Any]]:
    url = parse_mqtt_url(mqtt_url)
    return [
        {"id": "tab", "type": "tab", "label": "coldtrail peer"},
        {
            "id": "broker",
            "type": "mqtt-broker",
            "name": "mosquitto",
            "broker": url["host"],
            "port": str(url["port"]),
            "clientid": client_id,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": False,
            "autoUnsubscribe": False,
        },
        {
            "id": "in",
            "type": "mqtt in",
            "z": "tab",
            "topic": topic,
            "qos": "1",
            "datatype": "json",
            "broker": "broker",
            "nl": False,
            "rap": False,
            "inputs": 0,
            "wires": [["insert"]],
        },
        {
            "id": "insert",
            "type": "function",
            "z": "tab",
            "name": "multi-row insert",
            "func": FUNCTION % {"pool": POOL},
            "outputs": 0,
            "wires": [],
        },
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _create_session(mqtt_url: str, client_id: str, topic: str) -> None:
    """Node-RED's persistent session (MQTT 3.1.1, clean session off), so that the backlog
    published next waits for it in the broker."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    url = parse_mqtt_url(mqtt_url)
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=False,
        protocol=paho.MQTTv311,
    )
    client.connect(url["host"], url["port"])
    client.loop_start()
    info = client.subscribe(topic, qos=1)
    deadline = time.monotonic() + 10
    while client.is_connected() is False or info[0] != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("cannot create the Node-RED session")
        time.sleep(0.05)
    time.sleep(0.5)
    client.loop_stop()
    client.disconnect()


def _count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
    return int(row[0]) if row else 0


def throughput(
    db_url: str, mqtt_url: str, topic: str, readings: int, publish: Any
) -> dict[str, Any]:
    """Publish ``readings`` (``publish()``: seconds, after the session exists), start Node-RED,
    and time it until the table holds them all. The caller truncated ``readings``."""
    script = ensure_installed()
    client_id = f"node-red-{uuid.uuid4().hex[:8]}"
    _create_session(mqtt_url, client_id, topic)
    publish_s = publish()
    with tempfile.TemporaryDirectory(prefix="ct-node-red-") as user_dir:
        pg = json.dumps(str(HERE / "node_modules" / "pg"))
        Path(user_dir, "settings.js").write_text(SETTINGS % {"port": _free_port(), "pg": pg})
        Path(user_dir, "flows.json").write_text(json.dumps(flows(mqtt_url, topic, client_id)))
        env = {**os.environ, "DATABASE_URL": _node_url(db_url)}
        proc = subprocess.Popen(
            ["node", str(script), "--userDir", user_dir, "--settings", f"{user_dir}/settings.js"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        connected = threading.Event()
        errors: list[str] = []
        lines: list[str] = []
        began = [0.0]

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if not connected.is_set() and re.search(r"Connected to broker", line):
                    began[0] = time.perf_counter()
                    connected.set()
                if "[error]" in line:
                    errors.append(line.strip())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        peak_rss = 0
        try:
            if not connected.wait(60):
                raise RuntimeError("Node-RED did not connect:\n" + "".join(lines[-20:]))
            while True:
                peak_rss = max(peak_rss, _rss_kib(proc.pid))
                done = _count(db_url)
                if done >= readings:
                    break
                if proc.poll() is not None or time.perf_counter() - began[0] > 600:
                    raise RuntimeError(f"Node-RED stored {done} of {readings}: {errors[-3:]}")
                time.sleep(0.02)
            seconds = time.perf_counter() - began[0]
            peak_rss = max(peak_rss, _hwm_kib(proc.pid))
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {
        "readings": readings,
        "seconds": round(seconds, 3),
        "readings_per_s": round(readings / seconds),
        "peak_rss_mb": round(peak_rss / 1024),
        "errors": len(errors),
        "publisher_readings_per_s": round(readings / publish_s),
        "acknowledged": "on arrival (before the write)",
    }


def _node_url(url: str) -> str:
    """A libpq URL or key=value string as the ``pg`` package's connection string."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = info.get("host", "127.0.0.1")
    port = info.get("port", 5432)
    user = info.get("user", "postgres")
    password = info.get("password")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgresql://{auth}{host}:{port}/{info.get('dbname', 'postgres')}"


def _rss_kib(pid: int) -> int:
    return _status_kib(pid, "VmRSS:")


def _hwm_kib(pid: int) -> int:
    return _status_kib(pid, "VmHWM:")


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
