"""The gateway's configuration file, ``check-config`` and ``status``."""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coldtrail import schema
from coldtrail.cli import main
from coldtrail.errors import ConfigError
from coldtrail.settings import load_gateway
from gateway.health import HealthMonitor, write_status_file

GOOD = """
gateway_id = "gw-van-7"
sources = ["sim:vehicle=van-1"]

[mqtt]
url = "mqtts://broker.example.com:8883"
username = "gw-van-7"
password_file = "{password}"

[outbox]
path = "{outbox}"

[[sensors]]
mac = "a4:c1:38:12:34:56"
kind = "bthome"
bindkey = "231d39c1d7cc1ab1aee224cd096db932"

[[serial]]
path = "/dev/serial/by-id/usb-u-blox-if00"
device = "gps-van-7"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    password = tmp_path / "mqtt-password"
    password.write_text("s3cret-pw\n")
    path = tmp_path / "gateway.toml"
    path.write_text(GOOD.format(password=password, outbox=tmp_path / "outbox.sqlite"))
    return path


def test_the_file_is_read_and_the_environment_wins(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_gateway(str(config))
    assert (settings.gateway_id, settings.sensors[0].mac) == ("gw-van-7", "A4:C1:38:12:34:56")
    assert settings.mqtt.secret() == "s3cret-pw"
    monkeypatch.setenv("COLDTRAIL_GATEWAY_GATEWAY_ID", "gw-from-env")
    assert load_gateway(str(config)).gateway_id == "gw-from-env"


def test_errors_name_the_field_and_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sensors]]\nmac = "zz"\n')
    with pytest.raises(ConfigError) as info:
        load_gateway(str(bad))
    message = str(info.value)
    assert "sensors[0].mac (in " in message and str(bad) in message
    bad.write_text('[[sensors]]\nmac = "A4:C1:38:12:34:56"\nbindkey = "short"\n')
    with pytest.raises(ConfigError) as info:
        load_gateway(str(bad))
    message = str(info.value)
    assert "sensors[0].bindkey (in " in message and str(bad) in message
    assert "short" not in message
    bad.write_text('gateway_id = "gw van 1"\n[ble]\nmode = "x"\n[outbox]\nmax_item = 3\n')
    with pytest.raises(ConfigError) as info:  # every problem, in one line
        load_gateway(str(bad))
    message = str(info.value)
    for key in ("ble.mode (in ", "outbox.max_item (in ", "gateway_id (in "):
        assert key in message
    assert "choose one of auto, passive, active" in message
    (tmp_path / "syntax.toml").write_text("gateway_id = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_gateway(str(tmp_path / "syntax.toml"))


def test_check_config_says_what_would_run_without_secrets(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gateway", "check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "gw-van-7" in out and "ble:hci0: 1 sensors (1 with a bindkey)" in out
    assert "serial:gps-van-7" in out and "sim:van-1" in out
    assert "s3cret" not in out and "231d39c1" not in out
    assert "configuration commands can replace this file" in out
    assert "decoders     bthome (imported)" in out


def test_check_config_finds_a_decoder_that_cannot_be_imported(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "firmware_bridge.ble.bthome", raising=False)
    monkeypatch.setitem(sys.modules, "bthome_ble", None)  # a broken install: import fails
    assert main(["gateway", "check-config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "problem      sensors of kind 'bthome' are configured but their decoder" in out


def test_check_config_finds_missing_files(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = config.read_text().replace(
        'url = "mqtts', 'ca_file = "/nonexistent/ca.pem"\nurl = "mqtts'
    )
    config.write_text(text)
    assert main(["gateway", "check-config", str(config)]) == 1
    assert "mqtt.ca_file = /nonexistent/ca.pem: no such file" in capsys.readouterr().out


def test_status_prints_the_running_gateways_last_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monitor = HealthMonitor("gw-1", disk_path=str(tmp_path), ntp=lambda: False)
    monitor.heard("A4:C1:38:00:00:01", datetime.now(UTC), -71)
    status = monitor.status(
        "online",
        pending=3,
        oldest_age_s=12.0,
        sources={"ble:hci0": "running"},
        alarms=[],
        dropped={},
        scanner_restarts=0,
    )
    path = tmp_path / "status.json"
    write_status_file(str(path), status)
    assert main(["gateway", "status", "--status-file", str(path)]) == 0
    printed = capsys.readouterr().out
    shown = json.loads(printed[: printed.rindex("}") + 1])
    assert shown["pending"] == 3 and shown["alarms"] == ["clock-unsynchronized"]
    assert shown["sensors"]["A4:C1:38:00:00:01"]["rssi_dbm"] == -71
    assert schema.decode_status(path.read_bytes()) == status


def test_status_without_a_running_gateway_says_so(tmp_path: Path) -> None:
    assert main(["gateway", "status", "--status-file", str(tmp_path / "none.json")]) == 2
