"""BLE advertisements through bleak: the ``ble`` frame source kind.

:class:`BleakFrameSource` runs a :class:`bleak.BleakScanner` and converts each
``(BLEDevice, AdvertisementData)`` into our :class:`~firmware_bridge.frames.BleAdvert` in the
detection callback, at the boundary: nothing of bleak goes further in. The advert is stamped
with the moment the callback ran (UTC): that is when it was heard, and sensors without a clock
of their own are measured then.

* ``mode``: ``passive`` scanning (the radio only listens: less power, no scan requests) needs
  BlueZ >= 5.56 started with ``--experimental`` and Linux >= 5.10, and BlueZ only reports the
  adverts matching :data:`PASSIVE_PATTERNS`; ``active`` works everywhere; ``auto`` (default)
  tries passive and falls back to active with one INFO line.
* ``macs``: only the configured sensors pass (an empty set lets everything through, as
  ``coldtrail gateway scan`` needs).
* ``stall_s``: BlueZ scanners are known to go quiet without an error (a controller reset, a
  suspended USB dongle); after ``stall_s`` seconds without a single advert the scanner is
  stopped and started again, and :attr:`BleakFrameSource.restarts` counts it.
* No adapter, no BlueZ, no D-Bus: :class:`~coldtrail.errors.ServiceUnavailable` with one line
  naming the cause and the fix; the gateway logs it once and keeps its other sources.

Registered as ``ble:adapter=hci0,mode=auto,macs=A4:C1:38:00:00:01|A4:C1:38:00:00:02,stall=60``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Literal

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern, OrPatternLike
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)
from bleak.uuids import normalize_uuid_str

from coldtrail import sensor_kinds
from coldtrail.errors import ServiceUnavailable
from firmware_bridge.frames import BleAdvert

log = logging.getLogger(__name__)

Mode = Literal["auto", "passive", "active"]
MODES: tuple[Mode, ...] = ("auto", "passive", "active")
Clock = Callable[[], datetime]

DEFAULT_STALL_S = 60.0
QUEUE_SIZE = 10_000
"""Adverts waiting for the gateway. The consumer is in this process and decodes an advert in
tens of microseconds, while even a crowded car park produces a few hundred adverts a second:
the queue only fills when the event loop is blocked for tens of seconds (a bug, or a stalled
SD card under a synchronous write). Then new adverts are dropped and counted rather than
letting memory grow on a 1 GB Raspberry Pi; a sensor repeats its advert seconds later."""

_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


PASSIVE_FLAGS = (2, 4, 5, 6, 0x18, 0x1A)
"""Flags values seen on real sensors (as Home Assistant's habluetooth uses)."""

PASSIVE_PATTERNS: list[OrPatternLike] = [
    # BlueZ passive scanning only reports adverts that match an "or pattern" (at most 16):
    # the flags of nearly every sensor ...
    *(OrPattern(0, AdvertisementDataType.FLAGS, bytes([f])) for f in PASSIVE_FLAGS),
    # ... and, for sensors that advertise without flags, the service data UUIDs and company ids
    # of the kinds we decode, from the one registry of kinds.
    *(
        OrPattern(0, AdvertisementDataType(ad_type), prefix)
        for ad_type, prefix in sensor_kinds.passive_prefixes()
    ),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_advert(device: BLEDevice, adv: AdvertisementData, received_at: datetime) -> BleAdvert:
    """bleak's view of an advertisement -> ours (address upper case, full lower-case UUIDs)."""
    return BleAdvert(
        address=device.address.upper(),
        received_at=received_at,
        rssi=adv.rssi,
        service_data={normalize_uuid_str(k): bytes(v) for k, v in adv.service_data.items()},
        manufacturer_data={int(k): bytes(v) for k, v in adv.manufacturer_data.items()},
        name=adv.local_name or device.name,
        service_uuids=tuple(normalize_uuid_str(u) for u in adv.service_uuids),
    )


class BleakFrameSource:
    """BLE adverts of the configured sensors (or of everything in range), as frames."""

    def __init__(
        self,
        *,
        adapter: str | None = None,
        mode: Mode = "auto",
        macs: Iterable[str] = (),
        stall_s: float | None = DEFAULT_STALL_S,
        queue_size: int = QUEUE_SIZE,
        backend: type[BaseBleakScanner] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        if stall_s is not None and stall_s <= 0:
            raise ValueError(f"stall {stall_s!r}: expected a number of seconds > 0")
        self.adapter = adapter
        self.mode: Mode = mode
        self.macs = frozenset(normalize_mac(m) for m in macs)
        self.stall_s = stall_s
        self._queue_size = queue_size
        self._backend = backend
        self._clock = clock
        self._queue: asyncio.Queue[BleAdvert] | None = None
        self._scanner: BleakScanner | None = None
        self._last_advert: float | None = None
        self._passive_failed = False
        self.scanning_mode: Literal["passive", "active"] | None = None
        """The mode the running scanner uses (``auto`` resolves to one of them)."""
        self.restarts = 0
        """Scanner restarts after ``stall_s`` seconds without an advert."""
        self.heard = 0
        """Adverts that passed the MAC filter."""
        self.dropped = 0
        """Adverts dropped because the queue was full (see :data:`QUEUE_SIZE`)."""

    @property
    def name(self) -> str:
        return f"ble:{self.adapter or 'default'}"

    @property
    def last_advert_age_s(self) -> float | None:
        """Seconds since the last advert that passed the filter; None before the first."""
        if self._last_advert is None:
            return None
        return time.monotonic() - self._last_advert

    async def frames(self) -> AsyncIterator[BleAdvert]:
        queue = self._queue = asyncio.Queue(self._queue_size)
        await self._start()
        quiet_since = time.monotonic()
        quiet_restarts = 0
        try:
            while True:
                if self.stall_s is None:
                    advert = await queue.get()
                else:
                    since = max(quiet_since, self._last_advert or quiet_since)
                    wait = since + self.stall_s - time.monotonic()
                    try:
                        advert = await asyncio.wait_for(queue.get(), max(wait, 0.0))
                    except TimeoutError:
                        if self._last_advert is not None and (
                            time.monotonic() - self._last_advert < self.stall_s
                        ):
                            continue  # an advert arrived as the timeout fired
                        quiet_restarts += 1
                        await self._restart(quiet_restarts)
                        quiet_since = time.monotonic()
                        continue
                if quiet_restarts:
                    log.info(
                        "%s: adverts heard again after %d scanner restart(s)",
                        self.name,
                        quiet_restarts,
                    )
                    quiet_restarts = 0
                yield advert
        finally:
            await self._stop()
            self._queue = None

    # -- the scanner ---------------------------------------------------------------------------

    def _on_advert(self, device: BLEDevice, adv: AdvertisementData) -> None:
        """bleak's detection callback: runs in the event loop for every advert heard."""
        received_at = self._clock()
        if self.macs and device.address.upper() not in self.macs:
            return
        queue = self._queue
        if queue is None:
            return  # an advert delivered while the scanner stops
        self._last_advert = time.monotonic()
        self.heard += 1
        try:
            queue.put_nowait(to_advert(device, adv, received_at))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "%s: %d adverts waiting, the gateway is not reading them: dropping new"
                    " adverts (counted in 'dropped') until it catches up",
                    self.name,
                    queue.qsize(),
                )

    def _scanner_for(self, mode: Literal["passive", "active"]) -> BleakScanner:
        bluez: BlueZScannerArgs = {}
        if self.adapter:
            bluez["adapter"] = self.adapter
        if mode == "passive":
            bluez["or_patterns"] = PASSIVE_PATTERNS
        return BleakScanner(self._on_advert, scanning_mode=mode, bluez=bluez, backend=self._backend)

    async def _start(self) -> None:
        want_passive = self.mode == "passive" or (self.mode == "auto" and not self._passive_failed)
        if want_passive:
            try:
                await self._start_mode("passive")
                return
            except BleakError as exc:
                if self.mode == "passive" or not _passive_unsupported(exc):
                    raise self._unavailable(exc) from None
                self._passive_failed = True
                log.info(
                    "%s: passive scanning is not available (%s); scanning actively instead"
                    " (for passive scanning, start bluetoothd with --experimental)",
                    self.name,
                    exc,
                )
            except OSError as exc:
                raise self._unavailable(exc) from None
        try:
            await self._start_mode("active")
        except (BleakError, OSError) as exc:
            raise self._unavailable(exc) from None

    async def _start_mode(self, mode: Literal["passive", "active"]) -> None:
        scanner = self._scanner_for(mode)
        await scanner.start()
        self._scanner = scanner
        self.scanning_mode = mode
        log.debug("%s: scanning (%s)", self.name, mode)

    async def _stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is None:
            return
        try:
            await scanner.stop()
        except (BleakError, OSError) as exc:
            # The adapter may be gone already; the scanner is dropped either way.
            log.warning("%s: stopping the scanner failed: %s", self.name, exc)

    async def _restart(self, quiet_restarts: int) -> None:
        self.restarts += 1
        level = logging.WARNING if quiet_restarts == 1 else logging.DEBUG
        log.log(
            level,
            "%s: no advert for %.0f s: restarting the scanner (restart %d; further restarts"
            " while quiet are logged at DEBUG)",
            self.name,
            self.stall_s,
            self.restarts,
        )
        await self._stop()
        await self._start()

    def _unavailable(self, exc: BaseException) -> ServiceUnavailable:
        return ServiceUnavailable(f"{self.name}: {describe_failure(exc, self.adapter)}")


def describe_failure(exc: BaseException, adapter: str | None) -> str:
    """One line: why bleak could not scan, and what to do about it."""
    where = adapter or "default adapter"
    status = "`systemctl status bluetooth`"
    if isinstance(exc, PermissionError) or (
        isinstance(exc, BleakBluetoothNotAvailableError)
        and exc.reason is BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM
    ):
        return (
            f"access to BlueZ denied ({exc}): add the gateway's user to the 'bluetooth' group"
            " (`sudo usermod -aG bluetooth $USER`) and restart it"
        )
    if isinstance(exc, OSError):
        return (
            f"no Bluetooth adapter found ({where}): cannot reach BlueZ over the D-Bus system bus"
            f" ({exc.strerror or exc}): is BlueZ installed and are dbus and bluetoothd"
            f" running? {status}"
        )
    if isinstance(exc, BleakDBusError) and exc.dbus_error in (
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ):
        return (
            f"no Bluetooth adapter found ({where}): bluetoothd is not running:"
            f" `sudo systemctl enable --now bluetooth`, then {status}"
        )
    if isinstance(exc, BleakBluetoothNotAvailableError):
        if exc.reason is BleakBluetoothNotAvailableReason.POWERED_OFF:
            return (
                f"the Bluetooth adapter ({where}) is powered off or blocked:"
                " `rfkill unblock bluetooth && bluetoothctl power on`"
            )
        if exc.reason is BleakBluetoothNotAvailableReason.NO_BLE_CENTRAL_ROLE:
            return f"the Bluetooth adapter ({where}) cannot scan for BLE: use a BLE 4.0+ dongle"
        return (
            f"no Bluetooth adapter found ({where}): is the dongle plugged in and bluetoothd"
            f" running? {status}, `bluetoothctl list`"
        )
    text = str(exc)
    if "not found" in text and "adapter" in text:
        return (
            f"no Bluetooth adapter found ({where}): is the dongle plugged in and bluetoothd"
            f" running? {status}, `bluetoothctl list` shows the adapters"
        )
    if _passive_unsupported(exc):
        return (
            f"passive scanning is not available on {where} ({text}): start bluetoothd with"
            " --experimental (BlueZ >= 5.56, Linux >= 5.10, see docs/raspberry-pi.md) or use"
            " mode=auto or mode=active"
        )
    return f"Bluetooth scanning failed on {where}: {text or type(exc).__name__}: {status}"


def _passive_unsupported(exc: BaseException) -> bool:
    if isinstance(exc, BleakDBusError) and exc.dbus_error in (
        "org.freedesktop.DBus.Error.UnknownMethod",
        "org.bluez.Error.NotSupported",
        "org.bluez.Error.NotPermitted",
    ):
        return True
    return isinstance(exc, BleakError) and "passive" in str(exc).lower()


def normalize_mac(mac: str) -> str:
    mac = mac.strip().upper().replace("-", ":")
    if not _MAC.match(mac):
        raise ValueError(f"MAC address {mac!r}: expected six hex pairs, e.g. A4:C1:38:00:00:01")
    return mac


def create_ble(options: dict[str, str]) -> BleakFrameSource:
    """The ``ble`` source kind: ``adapter`` (hci0), ``mode`` (auto|passive|active), ``macs``
    (``|``-separated; empty = every device), ``stall`` (seconds without an advert before the
    scanner restarts; 0 = never)."""
    known = {"adapter", "mode", "macs", "stall"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    mode = options.get("mode", "auto")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    stall_text = options.get("stall", str(DEFAULT_STALL_S))
    try:
        stall = float(stall_text)
    except ValueError:
        raise ValueError(f"stall {stall_text!r}: expected seconds, e.g. stall=60") from None
    macs = [m for m in options.get("macs", "").split("|") if m.strip()]
    return BleakFrameSource(
        adapter=options.get("adapter") or None,
        mode=mode,
        macs=macs,
        stall_s=stall if stall > 0 else None,
    )
