"""Edges of the gateway's settings (msgspec Structs) and of the services' view of its
MqttSettings: a malformed calibration point, an empty URL variable, the environment's boolean
words, secrets never in an error's text, a service's settings dumped and built again."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from coldtrail import commands
from coldtrail import settings as s
from coldtrail.errors import ConfigError

BAD_POINTS = """\
[[sensors]]
mac = "A4:C1:38:00:00:01"
[sensors.calibration.temperature_c]
points = [[0.0, "abc"], [10.0, 10.2]]
"""


def test_a_bad_calibration_point_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BAD_POINTS)
    with pytest.raises(ConfigError, match=r"sensors\[0\]\.calibration\.temperature_c\.points"):
        s.load_gateway(str(path))


@pytest.mark.parametrize("points", [[[0, None], [1, 2]], [[0, 1, 2], [1, 2]], [[0, 1]]])
def test_a_bad_calibration_point_in_a_command_is_refused_with_a_reason(points: object) -> None:
    body = {
        "mac": "A4:C1:38:00:00:01",
        "quantity": "temperature_c",
        "calibration": {"points": points},
    }
    with pytest.raises(ValueError, match="invalid set_calibration command"):
        commands.check("set_calibration", body)


def test_an_empty_mqtt_url_variable_is_no_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_MQTT__URL", "")
    monkeypatch.setenv("COLDTRAIL_INGEST_MQTT__URL", "")
    assert s.load_gateway(None).mqtt.host == "127.0.0.1"
    assert s.load(s.IngestSettings).mqtt.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("word", "expected"),
    [("yes", True), ("On", True), ("y", True), ("t", True), ("no", False), ("OFF", False)],
)
def test_the_environments_boolean_words(
    monkeypatch: pytest.MonkeyPatch, word: str, expected: bool
) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_MQTT__TLS", word)
    monkeypatch.setenv("COLDTRAIL_GATEWAY_AWAIT_STORED", word)
    monkeypatch.setenv("COLDTRAIL_INGEST_MQTT__TLS", word)
    gateway = s.load_gateway(None)
    assert gateway.mqtt.tls is expected and gateway.await_stored is expected
    assert s.load(s.IngestSettings).mqtt.tls is expected


def test_a_number_with_blanks_around_it_and_a_word_that_is_no_boolean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_MQTT__PORT", " 1884 ")
    assert s.load_gateway(None).mqtt.port == 1884
    monkeypatch.setenv("COLDTRAIL_GATEWAY_MQTT__TLS", "maybe")
    with pytest.raises(ConfigError, match="COLDTRAIL_GATEWAY_MQTT__TLS"):
        s.load_gateway(None)


def test_a_service_error_never_shows_the_mqtt_password() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        s.IngestSettings(mqtt={"host": "h", "port": 0, "password": "SUPERSECRET"})
    assert "SUPERSECRET" not in str(err.value)


def test_a_malformed_url_never_shows_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_MQTT__URL", "mqtt://gw:Secr3tPw/x@broker:1883")
    with pytest.raises(ConfigError, match="percent-encode") as err:
        s.load_gateway(None)
    assert "Secr3tPw" not in str(err.value)


def test_a_service_settings_dump_builds_the_same_settings_again() -> None:
    ingest = s.IngestSettings(mqtt=s.MqttSettings(host="h", password="pw-abc"))
    again = s.IngestSettings(**ingest.model_dump())
    assert again.mqtt.secret() == "pw-abc"
    assert "pw-abc" not in ingest.model_dump_json()
