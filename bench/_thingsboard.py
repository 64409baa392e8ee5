"""The peer of ``python -m bench.gateway --peer thingsboard``: thingsboard-gateway 3.8.5.

Installed with pip into a virtual environment of the bench's own, ``bench/.peers/thingsboard``
(gitignored; reused when present). It has no Bluetooth here and no decoder for our sensor
boards, so it reads **the same sensor-board frames** (docs/serial-protocol.md; the bytes
coldtrail's gateway reads from its serial port), one MQTT message per frame on a second
Mosquitto that stays up during the outage (its socket connector sleeps 0.2 s after every datagram:
at most 5 frames a second, too few), read by its MQTT connector, and turns each into telemetry
with its bytes converter (the board id as device name; temperature, humidity, battery and the
sequence number as hex slices of the frame). That is less work per reading than
coldtrail's (COBS, CRC, field decoding, contract validation): the comparison favours the peer.

It publishes to the same broker with QoS 1 (``v1/gateway/telemetry``), keeping what waits in its
SQLite storage (as coldtrail keeps its outbox on disk).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

VERSION = "3.8.5"
ROOT = Path(__file__).resolve().parent / ".peers" / "thingsboard"
TELEMETRY_TOPIC = "v1/gateway/telemetry"
INPUT_TOPIC_FILTER = "boards/+/frame"
INPUT = (
    "the same sensor-board frames, one MQTT message each (QoS 1) on boards/<board>/frame of a"
    " second Mosquitto that stays up, read by its MQTT connector with the bytes converter (hex"
    " slices: board id as device name, seq, temperature, humidity, battery)"
)


def python() -> Path:
    """The peer's interpreter, installing it on first use."""
    exe = ROOT / "bin" / "python"
    stamp = ROOT / f".installed-{VERSION}"
    if exe.exists() and stamp.exists():
        return exe
    print(f"installing thingsboard-gateway=={VERSION} into {ROOT} ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(ROOT)
    subprocess.run(
        [str(exe), "-m", "pip", "install", "--quiet", f"thingsboard-gateway=={VERSION}"],
        check=True,
    )
    stamp.touch()
    return exe


def _package_dir(exe: Path) -> Path:
    out = subprocess.run(
        [
            str(exe),
            "-c",
            "import thingsboard_gateway, os; print(os.path.dirname(thingsboard_gateway.__file__))",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def write_config(workdir: Path, exe: Path, *, port: int, input_port: int) -> Path:
    """The peer's configuration folder: the broker, SQLite storage, the MQTT connector."""
    config = workdir / "config"
    config.mkdir(parents=True, exist_ok=True)
    shipped = _package_dir(exe) / "config"
    tb = json.loads((shipped / "tb_gateway.json").read_text())
    tb["thingsboard"].update(
        host="127.0.0.1",
        port=port,
        remoteConfiguration=False,
        security={"type": "accessToken", "accessToken": "bench-peer"},
    )
    tb["storage"] = {
        "type": "sqlite",
        "data_file_path": f"{workdir / 'data'}/",
        "messages_ttl_check_in_hours": 1,
        "messages_ttl_in_days": 7,
        "max_read_records_count": 1000,
    }
    tb["connectors"] = [{"type": "mqtt", "name": "bench-input", "configuration": "mqtt.json"}]
    (config / "tb_gateway.json").write_text(json.dumps(tb, indent=2))
    mqtt_config = json.loads((shipped / "mqtt.json").read_text())
    mqtt_config["logLevel"] = "WARNING"
    mqtt_config["broker"].update(host="127.0.0.1", port=input_port, clientId="tb-bench-input")
    mqtt_config["mapping"] = [
        {
            "topicFilter": INPUT_TOPIC_FILTER,
            "subscriptionQos": 1,
            "converter": {
                "type": "bytes",
                "deviceInfo": {
                    "deviceNameExpressionSource": "message",
                    "deviceNameExpression": "board-[4:8]",  # the board id (wire bytes 4-7)
                    "deviceProfileExpressionSource": "constant",
                    "deviceProfileExpression": "board",
                },
                "timeout": 60000,
                "attributes": [],
                # COBS adds one byte in front: body byte k is wire byte k + 1.
                "timeseries": [
                    {"type": "raw", "key": key, "value": f"[{start}:{end}]", "hexMode": True}
                    for key, start, end in (
                        ("seq", 8, 12),
                        ("temperature", 13, 15),
                        ("humidity", 16, 18),
                        ("battery", 19, 20),
                    )
                ],
            },
        }
    ]
    for key in ("requestsMapping", "connectRequests", "disconnectRequests", "attributeRequests"):
        mqtt_config.pop(key, None)
    mqtt_config["requestsMapping"] = {}
    (config / "mqtt.json").write_text(json.dumps(mqtt_config, indent=2))
    logs = json.loads((shipped / "logs.json").read_text())
    for handler in logs.get("handlers", {}).values():
        if "filename" in handler:
            handler["filename"] = str(workdir / "logs" / Path(handler["filename"]).name)
    for logger in logs.get("loggers", {}).values():
        logger["level"] = "WARNING"
    (config / "logs.json").write_text(json.dumps(logs, indent=2))
    (workdir / "logs").mkdir(exist_ok=True)
    (workdir / "data").mkdir(exist_ok=True)
    return config


def command(exe: Path) -> list[str]:
    return [
        str(exe),
        "-c",
        "import sys; from thingsboard_gateway.tb_gateway import daemon; sys.exit(daemon())",
    ]


def clean(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
