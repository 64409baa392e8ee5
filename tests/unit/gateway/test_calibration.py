"""Per-sensor calibration: configured in [[sensors]], applied once on the gateway, the raw value
kept beside the corrected one, reported in the gateway's status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from coldtrail import schema
from coldtrail.cli import main
from coldtrail.errors import ConfigError
from coldtrail.settings import SensorSettings, load_gateway
from firmware_bridge.frames import BleAdvert
from gateway.calibration import Calibrator, calibrations
from gateway.health import HealthMonitor
from gateway.intake import Intake

RECEIVED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ADDRESS = "54:48:E6:8F:80:A5"
# RuuviTag data format 5, the example of Ruuvi's documentation: 24.3 °C, 53.49 %, 1000.44 hPa
RUUVI_VALID = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")

CONFIG = """
gateway_id = "van-7"

[[sensors]]
mac = "54:48:e6:8f:80:a5"
label = "rear shelf"

[sensors.calibration.temperature_c]
offset = -0.3
certificate = "CAL-2026-0142"

[sensors.calibration.humidity_pct]
points = [[10.0, 11.0], [75.0, 75.65]]
"""


def settings_from(tmp_path: Path, text: str) -> list[SensorSettings]:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return load_gateway(str(path)).sensors


def ruuvi_reading(calibrator: Calibrator) -> schema.Reading:
    intake = Intake("van-7", [], HealthMonitor("van-7", ntp=lambda: None), calibrator)
    advert = BleAdvert(ADDRESS, RECEIVED, rssi=-70, manufacturer_data={0x0499: RUUVI_VALID})
    [reading] = intake.take(advert)
    assert isinstance(reading, schema.Reading)
    return reading


def test_offset_and_two_point_correction_from_the_gateway_toml(tmp_path: Path) -> None:
    sensors = settings_from(tmp_path, CONFIG)
    reading = ruuvi_reading(Calibrator(calibrations(sensors)))
    assert reading.temperature_c == pytest.approx(24.3 - 0.3)
    # the line through (10, 11) and (75, 75.65): slope 0.99462, offset 1.0538
    assert reading.humidity_pct == pytest.approx(0.99461538 * 53.49 + 1.0538462, abs=1e-4)
    assert reading.pressure_hpa == pytest.approx(1000.44)  # not calibrated: untouched
    assert reading.raw == schema.RawValues(temperature_c=24.3, humidity_pct=53.49)
    assert reading.calibration is not None
    assert reading.calibration["temperature_c"] == schema.Calibration(
        slope=1.0, offset=-0.3, certificate="CAL-2026-0142"
    )
    assert reading.calibration["humidity_pct"].slope == pytest.approx(64.65 / 65)


def test_calibrated_reading_survives_the_contract_and_old_payloads_stay_valid(
    tmp_path: Path,
) -> None:
    reading = ruuvi_reading(Calibrator(calibrations(settings_from(tmp_path, CONFIG))))
    batch = schema.TelemetryBatch(gateway_id="van-7", sent_at=RECEIVED, readings=[reading])
    decoded = schema.decode_batch(schema.encode(batch))
    assert decoded.readings[0] == reading
    plain = ruuvi_reading(Calibrator({}))
    assert plain.raw is None and plain.calibration is None
    assert b"raw" not in msgspec.json.encode(plain)
    assert b"calibration" not in msgspec.json.encode(plain)


def test_a_reading_with_raw_values_but_no_calibration_is_refused() -> None:
    with pytest.raises(ValueError, match="same quantities"):
        schema.Reading(
            device_id="s1",
            received_at=RECEIVED,
            seq=1,
            seq_source="gateway",
            temperature_c=4.0,
            raw=schema.RawValues(temperature_c=4.3),
        )


def test_humidity_corrected_past_100_percent_is_held_at_100() -> None:
    calibrator = Calibrator({ADDRESS: {"humidity_pct": schema.Calibration(offset=50.0)}})
    reading = ruuvi_reading(calibrator)
    assert reading.humidity_pct == 100.0
    assert reading.raw == schema.RawValues(humidity_pct=53.49)


@pytest.mark.parametrize(
    ("calibration", "message"),
    [
        ("offset = 0.5\npoints = [[0.0, 0.0], [10.0, 10.0]]", "either offset"),
        ("", "either offset"),
        ("points = [[4.0, 4.2], [4.0, 8.0]]", "different raw values"),
        ("points = [[4.2, 0.0], [8.0, 40.0]]", "slope"),
        ("offset = 25", "temperature_c.offset .*<= 20"),
        ('offset = 0.1\ncertificate = ""', "length >= 1"),
        ("offset = 0.1\nslope = 2", "slope"),
    ],
)
def test_invalid_calibrations_get_clear_errors(
    tmp_path: Path, calibration: str, message: str
) -> None:
    text = f'[[sensors]]\nmac = "{ADDRESS}"\n[sensors.calibration.temperature_c]\n{calibration}\n'
    with pytest.raises(ConfigError, match=message):
        settings_from(tmp_path, text)


def test_only_measured_quantities_can_be_calibrated(tmp_path: Path) -> None:
    text = f'[[sensors]]\nmac = "{ADDRESS}"\n[sensors.calibration.battery_pct]\noffset = 1\n'
    with pytest.raises(ConfigError, match="temperature_c"):
        settings_from(tmp_path, text)


def test_the_status_reports_each_sensors_calibration_in_effect(tmp_path: Path) -> None:
    by_device = calibrations(settings_from(tmp_path, CONFIG))
    status = HealthMonitor("van-7", ntp=lambda: None).status(
        "online",
        pending=0,
        oldest_age_s=None,
        sources={},
        alarms=[],
        dropped={},
        scanner_restarts=None,
        calibrations=by_device,
    )
    payload = msgspec.json.decode(schema.encode(status))
    assert payload["calibrations"][ADDRESS]["temperature_c"] == {
        "offset": -0.3,
        "certificate": "CAL-2026-0142",
    }
    assert set(payload["calibrations"][ADDRESS]) == {"temperature_c", "humidity_pct"}


def test_check_config_lists_the_calibrations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    assert main(["gateway", "check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"calibration  {ADDRESS} temperature_c = 1 x raw -0.3 (CAL-2026-0142)" in out
    assert f"calibration  {ADDRESS} humidity_pct = 0.994615 x raw +1.05385" in out
