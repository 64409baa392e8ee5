"""BleakFrameSource through bleak's own ``backend=`` seam: a replaying scanner backend.

The backend below implements bleak's ``BaseBleakScanner`` and hands real advertisement bytes to
bleak's normal detection-callback path (``create_or_update_device`` then
``call_detection_callbacks``), as the BlueZ backend does with what D-Bus reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)

from coldtrail import schema
from coldtrail.errors import ConfigError, ServiceUnavailable
from firmware_bridge.ble import bthome
from firmware_bridge.frames import BleAdvert
from gateway.ble_source import PASSIVE_PATTERNS, BleakFrameSource, create_ble
from gateway.health import HealthMonitor
from gateway.intake import Intake
from gateway.sources import build_source, parse_spec

# BTHome v2, unencrypted (device info 0x40): battery 100 % (01 64), temperature 25.06 °C
# (02 ca09), humidity 50.55 % (03 bf13): the example advert of bthome.io's format page.
BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
BTHOME_PAYLOAD = bytes.fromhex("40016402ca0903bf13")
SENSOR_1 = "A4:C1:38:00:00:01"
SENSOR_2 = "A4:C1:38:00:00:02"
NO_PASSIVE = (
    "passive scanning on Linux requires BlueZ >= 5.56 with --experimental enabled and Linux"
    " kernel >= 5.10"
)  # bleak's own message (bleak/backends/bluezdbus/manager.py)


def advertisement(
    service_data: dict[str, bytes] | None = None,
    *,
    rssi: int = -67,
    name: str | None = "ATC_000001",
    manufacturer_data: dict[int, bytes] | None = None,
) -> AdvertisementData:
    service_data = service_data if service_data is not None else {BTHOME_UUID: BTHOME_PAYLOAD}
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer_data or {},
        service_data=service_data,
        service_uuids=list(service_data),
        tx_power=None,
        rssi=rssi,
        platform_data=(),
    )


class ReplayScanner(BaseBleakScanner):
    """A bleak scanner backend that replays adverts given to :meth:`hear`."""

    instances: ClassVar[list[ReplayScanner]]
    start_error: ClassVar[BaseException | None] = None
    passive_error: ClassVar[BaseException | None] = None

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.scanning_mode = scanning_mode
        self.bluez = kwargs.get("bluez", {})
        self.scanning = False
        self.stopped = False
        type(self).instances.append(self)

    async def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error
        if self.scanning_mode == "passive" and self.passive_error is not None:
            raise self.passive_error
        self.seen_devices = {}
        self.scanning = True

    async def stop(self) -> None:
        self.scanning = False
        self.stopped = True

    def hear(self, address: str, adv: AdvertisementData) -> None:
        assert self.scanning
        device = self.create_or_update_device(address, address, adv.local_name, None, adv)
        self.call_detection_callbacks(device, adv)


@pytest.fixture
def backend() -> type[ReplayScanner]:
    """A fresh subclass per test, so that class-level settings and instances do not leak."""
    return type("ReplayScanner", (ReplayScanner,), {"instances": []})


AT = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def fixed_clock() -> datetime:
    return AT


async def started(
    source: BleakFrameSource, backend: type[ReplayScanner]
) -> tuple[AsyncIterator[BleAdvert], asyncio.Task[BleAdvert]]:
    """Starts the frame iterator; returns it and a task waiting for its first frame."""
    frames = source.frames()
    first: asyncio.Task[BleAdvert] = asyncio.ensure_future(anext(frames))  # type: ignore[arg-type]
    await wait_for(lambda: bool(backend.instances) and backend.instances[-1].scanning)
    return frames, first


async def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        # polls counters of the source under test, which has no event to wait on
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_bthome_advert_becomes_our_frame_and_decodes(backend: type[ReplayScanner]) -> None:
    source = BleakFrameSource(adapter="hci0", mode="active", backend=backend, clock=fixed_clock)
    frames, first = await started(source, backend)
    upper_case_key = {BTHOME_UUID.upper(): BTHOME_PAYLOAD}
    backend.instances[-1].hear(
        "a4:c1:38:00:00:01", advertisement(upper_case_key, manufacturer_data={0x0499: b"\x05"})
    )
    advert = await first
    assert advert == BleAdvert(
        address=SENSOR_1,
        received_at=AT,
        rssi=-67,
        service_data={BTHOME_UUID: BTHOME_PAYLOAD},
        manufacturer_data={0x0499: b"\x05"},
        name="ATC_000001",
        service_uuids=(BTHOME_UUID,),
    )
    [sample] = bthome.decode(advert)
    assert sample.values.temperature_c == pytest.approx(25.06)
    assert sample.values.humidity_pct == pytest.approx(50.55)
    assert sample.values.battery_pct == 100
    assert source.heard == 1
    assert source.last_advert_age_s is not None and source.last_advert_age_s < 1
    assert backend.instances[-1].bluez == {"adapter": "hci0"}
    await frames.aclose()  # type: ignore[attr-defined]
    assert backend.instances[-1].stopped


# Real Shelly BLU captures from theengs/decoder, tests/BLE/test_ble.cpp: SBDW-002C (Door/Window)
# packet 86 closed / packet 93 open (with battery and lux), SBBT-002C (Button1) packet 29 press.
DW_CLOSED = bytes.fromhex("440056016405e406012d003f0000")
DW_OPEN = bytes.fromhex("44005d016405fc21002d013f9601")
BUTTON_PRESS = bytes.fromhex("40001d01643a01")
DOOR_TAG, BUTTON = "3C:2E:F5:AA:BB:CC", "BC:02:6E:AA:BB:CC"


async def test_bthome_door_and_button_events_reach_the_gateway_once(
    backend: type[ReplayScanner],
) -> None:
    source = BleakFrameSource(mode="active", backend=backend, clock=fixed_clock)
    frames, first = await started(source, backend)
    scanner = backend.instances[-1]
    heard = [
        (DOOR_TAG, DW_CLOSED),
        (DOOR_TAG, DW_CLOSED),  # each advert is sent twice or more
        (BUTTON, BUTTON_PRESS),
        (BUTTON, BUTTON_PRESS),
        (DOOR_TAG, DW_OPEN),
        (DOOR_TAG, DW_OPEN),
    ]
    for address, payload in heard:
        scanner.hear(address, advertisement({BTHOME_UUID: payload}, name="SBDW-002C"))
    intake = Intake("gw-test", [], HealthMonitor("gw-test", ntp=lambda: None))
    items = intake.take(await first)
    for _ in heard[1:]:
        items += intake.take(await anext(frames))  # type: ignore[call-overload]
    await frames.aclose()  # type: ignore[attr-defined]

    events = [i for i in items if isinstance(i, schema.Event)]
    assert [(e.device_id, e.kind, e.state, e.value) for e in events] == [
        (DOOR_TAG, "light", None, 673.0),
        (DOOR_TAG, "door", "closed", None),
        (BUTTON, "button", "press", None),
        (DOOR_TAG, "light", None, 87.0),
        (DOOR_TAG, "door", "open", None),
    ]
    # Several events of one advert share its packet id: the gateway's counter keys them.
    assert [(e.seq, e.seq_source) for e in events] == [
        (1, "gateway"),
        (2, "gateway"),
        (1, "gateway"),
        (3, "gateway"),
        (4, "gateway"),
    ]
    assert all(e.received_at == AT and e.measured_at is None for e in events)
    readings = [i for i in items if isinstance(i, schema.Reading)]
    assert [(r.device_id, r.seq, r.battery_pct) for r in readings] == [
        (DOOR_TAG, 86, 100),
        (BUTTON, 29, 100),
        (DOOR_TAG, 93, 100),
    ]
    assert intake.dead == deque()


async def test_received_at_is_when_the_callback_ran_in_utc(
    backend: type[ReplayScanner],
) -> None:
    source = BleakFrameSource(mode="active", backend=backend)
    frames, first = await started(source, backend)
    before = datetime.now(UTC)
    backend.instances[-1].hear(SENSOR_1, advertisement())
    after = datetime.now(UTC)
    advert = await first
    assert advert.received_at.tzinfo is not None
    assert before <= advert.received_at <= after
    await frames.aclose()  # type: ignore[attr-defined]


async def test_only_configured_macs_pass(backend: type[ReplayScanner]) -> None:
    source = BleakFrameSource(mode="active", macs=[SENSOR_1.lower()], backend=backend)
    frames, first = await started(source, backend)
    scanner = backend.instances[-1]
    scanner.hear(SENSOR_2, advertisement(rssi=-40))
    scanner.hear("11:22:33:44:55:66", advertisement({}, name="someone's phone"))
    scanner.hear(SENSOR_1.lower(), advertisement(rssi=-80))
    advert = await first
    assert (advert.address, advert.rssi) == (SENSOR_1, -80)
    assert source.heard == 1
    await frames.aclose()  # type: ignore[attr-defined]


async def test_passive_mode_passes_or_patterns(backend: type[ReplayScanner]) -> None:
    source = BleakFrameSource(adapter="hci1", mode="passive", backend=backend)
    _frames, first = await started(source, backend)
    scanner = backend.instances[-1]
    assert scanner.scanning_mode == "passive"
    assert scanner.bluez == {"adapter": "hci1", "or_patterns": PASSIVE_PATTERNS}
    assert source.scanning_mode == "passive"
    assert len(PASSIVE_PATTERNS) <= 16  # BlueZ's limit per advertisement monitor
    first.cancel()  # the gateway cancels its readers: the scanner stops
    with pytest.raises(asyncio.CancelledError):
        await first
    assert scanner.stopped


async def test_auto_falls_back_to_active_with_one_info_line(
    backend: type[ReplayScanner], caplog: pytest.LogCaptureFixture
) -> None:
    backend.passive_error = BleakError(NO_PASSIVE)
    caplog.set_level(logging.INFO, logger="gateway.ble_source")
    source = BleakFrameSource(mode="auto", backend=backend)
    frames, first = await started(source, backend)
    assert [s.scanning_mode for s in backend.instances] == ["passive", "active"]
    assert source.scanning_mode == "active"
    lines = [r for r in caplog.records if "passive" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert "--experimental" in lines[0].getMessage()
    backend.instances[-1].hear(SENSOR_1, advertisement())
    assert (await first).address == SENSOR_1
    await frames.aclose()  # type: ignore[attr-defined]


async def test_passive_only_mode_says_how_to_enable_it(backend: type[ReplayScanner]) -> None:
    backend.passive_error = BleakError(NO_PASSIVE)
    source = BleakFrameSource(mode="passive", backend=backend)
    with pytest.raises(ServiceUnavailable, match=r"--experimental.*mode=auto"):
        await anext(source.frames())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # what bleak raises here, without a D-Bus system bus (no BlueZ on this machine)
        (FileNotFoundError(2, "No such file or directory"), r"no Bluetooth adapter found \(hci0\)"),
        (BleakError("adapter 'hci0' not found"), r"no Bluetooth adapter found \(hci0\).*plugged"),
        (
            BleakBluetoothNotAvailableError(
                "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH
            ),
            r"no Bluetooth adapter found \(hci0\).*bluetoothd",
        ),
        (
            BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []),
            r"bluetoothd is not running.*systemctl",
        ),
        (
            BleakBluetoothNotAvailableError("off", BleakBluetoothNotAvailableReason.POWERED_OFF),
            r"powered off.*rfkill unblock",
        ),
        (PermissionError(13, "Permission denied"), r"denied.*bluetooth' group"),
    ],
)
async def test_no_adapter_is_one_clear_line_naming_the_fix(
    backend: type[ReplayScanner], error: BaseException, expected: str
) -> None:
    backend.start_error = error
    source = BleakFrameSource(adapter="hci0", mode="auto", backend=backend)
    with pytest.raises(ServiceUnavailable, match=expected) as caught:
        await anext(source.frames())  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("ble:hci0: ")


async def test_the_real_bleak_on_a_missing_adapter_is_service_unavailable() -> None:
    # No backend: bleak's platform backend, on an adapter that does not exist. Whether this
    # machine has no D-Bus (FileNotFoundError) or BlueZ without hci99, the line is the same.
    source = BleakFrameSource(adapter="hci99", mode="active")
    with pytest.raises(ServiceUnavailable, match=r"^ble:hci99: .*\(hci99\)"):
        await anext(source.frames())  # type: ignore[arg-type]


async def test_a_quiet_scanner_is_restarted_and_counted(
    backend: type[ReplayScanner], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.ble_source")
    source = BleakFrameSource(mode="active", stall_s=0.05, backend=backend)
    frames, first = await started(source, backend)
    await wait_for(lambda: source.restarts >= 3)
    assert len(backend.instances) >= 4
    assert all(s.stopped for s in backend.instances[:-1])
    await wait_for(lambda: backend.instances[-1].scanning)
    backend.instances[-1].hear(SENSOR_1, advertisement())
    assert (await first).address == SENSOR_1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "restarting the scanner" in warnings[0].getMessage()
    # adverts keep the scanner alive: no restart while they arrive faster than stall_s
    restarts = source.restarts
    for _ in range(5):
        backend.instances[-1].hear(SENSOR_1, advertisement())
        assert (await anext(frames)).address == SENSOR_1  # type: ignore[arg-type]
        await asyncio.sleep(0.02)
    assert source.restarts == restarts
    assert any("heard again" in r.getMessage() for r in caplog.records)
    await frames.aclose()  # type: ignore[attr-defined]


async def test_a_full_queue_drops_and_counts_and_warns_once(
    backend: type[ReplayScanner], caplog: pytest.LogCaptureFixture
) -> None:
    source = BleakFrameSource(mode="active", queue_size=1, backend=backend)
    frames, first = await started(source, backend)
    for _ in range(4):
        backend.instances[-1].hear(SENSOR_1, advertisement())
    assert source.dropped == 3
    assert len([r for r in caplog.records if "dropping" in r.getMessage()]) == 1
    assert (await first).address == SENSOR_1
    await frames.aclose()  # type: ignore[attr-defined]


def test_factory_reads_the_spec() -> None:
    kind, options = parse_spec(
        "ble:adapter=hci0,mode=auto,macs=a4:c1:38:00:00:01|A4:C1:38:00:00:02,stall=60"
    )
    assert kind == "ble"
    source = create_ble(options)
    assert source.name == "ble:hci0"
    assert source.mode == "auto"
    assert source.macs == {SENSOR_1, SENSOR_2}
    assert source.stall_s == 60
    assert create_ble({}).macs == frozenset()
    assert create_ble({"stall": "0"}).stall_s is None


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mode": "loud"}, "mode"),
        ({"macs": "A4:C1:38"}, "MAC address"),
        ({"stall": "soon"}, "stall"),
        ({"adaptor": "hci0"}, "unknown option"),
    ],
)
def test_factory_rejects_bad_options(options: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        create_ble(options)


def test_bad_options_through_the_entry_point_seam_are_config_errors() -> None:
    # ConfigError either way: "unknown kind" until pyproject.toml registers ``ble``, then the
    # factory's ValueError naming the option
    with pytest.raises(ConfigError, match="ble:mode=loud"):
        build_source("ble:mode=loud")
