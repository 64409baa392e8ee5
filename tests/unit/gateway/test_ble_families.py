"""The new BLE families end to end through bleak's ``backend=`` seam and the gateway's intake.

Real advertisement bytes (tests/unit/firmware_bridge/ble_corpus.py, each with its source) are
handed to bleak's detection-callback path by the replaying scanner backend of
test_ble_source.py, as BlueZ would hand them: an Inkbird's scan response (its name) apart from
its advert, a Govee with both merged (as BlueZ merges them into the device's properties).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bleak.backends.scanner import AdvertisementData

from coldtrail import schema
from firmware_bridge.ble import advertisement
from firmware_bridge.ble.registry import SensorConfig
from gateway.ble_source import BleakFrameSource
from gateway.health import HealthMonitor
from gateway.intake import Intake
from tests.unit.firmware_bridge.ble_corpus import CAPTURES, Capture
from tests.unit.gateway.test_ble_source import AT, ReplayScanner, fixed_clock, started

INKBIRD = "49:21:09:09:65:49"
GOVEE = "A4:C1:38:DD:DB:F8"
RUUVI = "CB:B8:33:4C:88:4F"


@pytest.fixture
def backend() -> type[ReplayScanner]:
    return type("ReplayScanner", (ReplayScanner,), {"instances": []})


def capture(label: str) -> Capture:
    [found] = [c for c in CAPTURES if c.label == label]
    return found


def as_bleak(hex_text: str, rssi: int = -60) -> AdvertisementData:
    """What bleak reports for these AD structures."""
    parsed = advertisement.parse_hex(hex_text, address="00:00:00:00:00:00", received_at=AT)
    return AdvertisementData(
        local_name=parsed.name,
        manufacturer_data=dict(parsed.manufacturer_data),
        service_data=dict(parsed.service_data),
        service_uuids=list(parsed.service_uuids),
        tx_power=None,
        rssi=rssi,
        platform_data=(),
    )


def merged(c: Capture, rssi: int = -60) -> AdvertisementData:
    """Advert and scan response as BlueZ merges them."""
    joined = advertisement.parse_hex(c.advert, address="00:00:00:00:00:00", received_at=AT)
    for response in c.scan_responses:
        joined = advertisement.join(
            joined, advertisement.parse_hex(response, address="00:00:00:00:00:00", received_at=AT)
        )
    return AdvertisementData(
        local_name=joined.name,
        manufacturer_data=dict(joined.manufacturer_data),
        service_data=dict(joined.service_data),
        service_uuids=list(joined.service_uuids),
        tx_power=None,
        rssi=rssi,
        platform_data=(),
    )


async def test_inkbird_scan_response_then_advert_and_merged_govee_become_readings(
    backend: type[ReplayScanner],
) -> None:
    source = BleakFrameSource(mode="active", backend=backend, clock=fixed_clock)
    frames, first = await started(source, backend)
    scanner = backend.instances[-1]
    ibs_th1 = capture("IBS-TH1")
    assert ibs_th1.scan_response is not None
    scanner.hear(INKBIRD, as_bleak(ibs_th1.scan_response))  # the name, "sps"
    scanner.hear(INKBIRD, as_bleak(ibs_th1.advert))  # the measurements, no name
    scanner.hear(GOVEE, merged(capture("H5074 below zero")))
    intake = Intake("gw-test", [], HealthMonitor("gw-test", ntp=lambda: None))
    items = intake.take(await first)
    for _ in range(2):
        items += intake.take(await anext(frames))  # type: ignore[call-overload]
    await frames.aclose()  # type: ignore[attr-defined]

    readings = [i for i in items if isinstance(i, schema.Reading)]
    assert [
        (r.device_id, r.temperature_c, r.humidity_pct, r.battery_pct, r.rssi_dbm) for r in readings
    ] == [
        (INKBIRD, 26.62, 53.79, 89, -60),
        (GOVEE, -13.76, 60.92, 100, -60),
    ]
    assert all(r.seq_source == "gateway" and r.received_at == AT for r in readings)
    assert not intake.dead


async def test_ruuvi_maximum_values_keep_the_reading_and_dead_letter_the_rest(
    backend: type[ReplayScanner],
) -> None:
    source = BleakFrameSource(mode="active", backend=backend, clock=fixed_clock)
    frames, first = await started(source, backend)
    backend.instances[-1].hear(RUUVI, merged(capture("RAWv2 maximum values")))
    intake = Intake("gw-test", [], HealthMonitor("gw-test", ntp=lambda: None))
    items = intake.take(await first)
    await frames.aclose()  # type: ignore[attr-defined]

    [reading] = items
    assert isinstance(reading, schema.Reading)
    assert reading.humidity_pct is None
    assert reading.temperature_c == pytest.approx(163.835, abs=0.01)
    assert reading.seq == 65534 and reading.seq_source == "sensor"
    [dead] = intake.dead
    assert dead.source == RUUVI
    assert "humidity_pct=163.8" in dead.reason
    assert dead.raw_hex.upper() == "057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F"


async def test_configured_inkbird_never_named_is_dead_lettered_with_the_reason(
    backend: type[ReplayScanner],
) -> None:
    source = BleakFrameSource(mode="passive", backend=backend, clock=fixed_clock)
    frames, first = await started(source, backend)
    backend.instances[-1].hear(INKBIRD, as_bleak(capture("IBS-TH2").advert))
    intake = Intake(
        "gw-test",
        [SensorConfig(INKBIRD, "inkbird")],
        HealthMonitor("gw-test", ntp=lambda: None, clock=lambda: datetime.now(UTC)),
    )
    assert intake.take(await first) == []
    await frames.aclose()  # type: ignore[attr-defined]
    [dead] = intake.dead
    assert "inkbird-ble does not recognise this advert (name None" in dead.reason
    assert "660a19200010805908" in dead.raw_hex
