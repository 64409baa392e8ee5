"""``coldtrail gateway scan``: list the BLE devices in range and the kind of sensor each one is.

Runs :class:`~gateway.ble_source.BleakFrameSource` without a MAC filter for ``--seconds``,
with a countdown on stderr, then prints one line per device heard (loudest first): address,
name, RSSI (last and max), adverts heard, and the kind ``firmware_bridge`` recognises (a kind
of :data:`coldtrail.sensor_kinds.KINDS`, or ``?``). Copy the addresses into the gateway's
``[[sensors]]``. Without a usable adapter it prints one line naming the cause and the fix and
exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from coldtrail.errors import ServiceUnavailable
from firmware_bridge.ble.registry import detect_kind
from firmware_bridge.frames import BleAdvert

if TYPE_CHECKING:
    # bleak is imported when the scan runs: registering ``scan`` (on every ``coldtrail``
    # command) must not load it into a gateway that has no BLE source.
    from bleak.backends.scanner import BaseBleakScanner

    from gateway.ble_source import BleakFrameSource

DEFAULT_SECONDS = 10.0
MODES = ("auto", "passive", "active")
"""``gateway.ble_source.MODES`` (tests/unit/gateway/test_scan_cli.py checks they agree)."""


@dataclass(slots=True)
class Heard:
    """What the scan heard of one device."""

    address: str
    name: str | None
    rssi_last: int | None
    rssi_max: int | None
    adverts: int
    kind: str

    def add(self, advert: BleAdvert) -> None:
        self.adverts += 1
        self.name = advert.name or self.name
        if advert.rssi is not None:
            self.rssi_last = advert.rssi
            self.rssi_max = (
                advert.rssi if self.rssi_max is None else max(self.rssi_max, advert.rssi)
            )
        if self.kind == "?":
            self.kind = detect_kind(advert) or "?"


def register_scan(subparsers: Any) -> None:
    """Adds ``scan`` to the ``coldtrail gateway`` actions."""
    parser = subparsers.add_parser(
        "scan",
        help="list the BLE sensors in range and their kind",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help="how long to listen (10)"
    )
    parser.add_argument("--adapter", help="the Bluetooth adapter, e.g. hci0 (default: the first)")
    parser.add_argument(
        "--mode", choices=MODES, default="auto", help="scanning mode (auto: passive if possible)"
    )
    parser.set_defaults(func=run_scan)


def run_scan(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    backend: type[BaseBleakScanner] | None = None,
) -> int:
    """The command: 0 after a scan (even if nothing was heard), 1 without a usable adapter."""
    from gateway.ble_source import BleakFrameSource

    out = out or sys.stdout
    err = err or sys.stderr
    source = BleakFrameSource(
        adapter=args.adapter, mode=args.mode, macs=(), stall_s=None, backend=backend
    )
    try:
        heard = asyncio.run(scan(source, args.seconds, progress=err))
    except ServiceUnavailable as exc:
        print(f"coldtrail gateway scan: {exc}", file=err)
        return 1
    print_table(heard, out, mode=source.scanning_mode, seconds=args.seconds)
    return 0


async def scan(
    source: BleakFrameSource,
    seconds: float,
    *,
    progress: TextIO | None = None,
    on_advert: Callable[[BleAdvert], None] | None = None,
) -> dict[str, Heard]:
    """Listen for ``seconds``; a countdown line goes to ``progress`` once a second."""
    heard: dict[str, Heard] = {}

    async def listen() -> None:
        async for advert in source.frames():
            device = heard.get(advert.address)
            if device is None:
                device = heard[advert.address] = Heard(
                    advert.address, advert.name, None, None, 0, "?"
                )
            device.add(advert)
            if on_advert is not None:
                on_advert(advert)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    listener = asyncio.create_task(listen())
    shown = False
    try:
        while (left := deadline - loop.time()) > 0:
            started = source.scanning_mode is not None
            if progress is not None and started:
                progress.write(f"\rscanning: {left:4.0f} s left, {len(heard):3d} devices heard ")
                progress.flush()
                shown = True
            # short waits until the scanner runs, so that a failure shows no countdown
            await asyncio.wait({listener}, timeout=min(1.0 if started else 0.05, left))
            if listener.done():
                listener.result()  # raises ServiceUnavailable (no adapter, no BlueZ)
                break
    finally:
        if progress is not None and shown:
            progress.write("\r" + " " * 50 + "\r")
            progress.flush()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    return heard


def print_table(heard: dict[str, Heard], out: TextIO, *, mode: str | None, seconds: float) -> None:
    devices = sorted(heard.values(), key=lambda d: (d.rssi_max is None, -(d.rssi_max or 0)))
    header = f"{'address':17}  {'name':20}  {'rssi last/max':>13}  {'adverts':>7}  kind"
    print(header, file=out)
    for d in devices:
        rssi = f"{_dbm(d.rssi_last)}/{_dbm(d.rssi_max)}"
        print(
            f"{d.address:17}  {(d.name or '-')[:20]:20}  {rssi:>13}  {d.adverts:>7}  {d.kind}",
            file=out,
        )
    known = sum(1 for d in devices if d.kind != "?")
    print(
        f"{len(devices)} devices heard in {seconds:.0f} s ({mode or '?'} scanning),"
        f" {known} of a kind coldtrail decodes",
        file=out,
    )


def _dbm(value: int | None) -> str:
    return "-" if value is None else str(value)
