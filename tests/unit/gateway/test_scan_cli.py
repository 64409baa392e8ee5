"""``coldtrail gateway scan`` with the replaying bleak backend, and on this machine's bleak."""

from __future__ import annotations

import argparse
import asyncio
import io
from typing import Any

from bleak.exc import BleakError

from gateway.ble_source import BleakFrameSource
from gateway.scan_cli import register_scan, run_scan, scan
from tests.unit.gateway.test_ble_source import (
    SENSOR_1,
    ReplayScanner,
    advertisement,
)

RUUVI_RAWV2 = bytes.fromhex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
"""Ruuvi data format 5, the example of Ruuvi's specification (docs.ruuvi.com)."""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="coldtrail gateway")
    register_scan(parser.add_subparsers())
    return parser.parse_args(["scan", *argv])


def test_defaults() -> None:
    args = parse()
    assert (args.seconds, args.adapter, args.mode, args.func) == (10.0, None, "auto", run_scan)
    args = parse("--seconds", "3", "--adapter", "hci1", "--mode", "active")
    assert (args.seconds, args.adapter, args.mode) == (3.0, "hci1", "active")


def fresh_backend(**settings: Any) -> Any:
    return type("ReplayScanner", (ReplayScanner,), {"instances": [], **settings})


class HearingScanner(ReplayScanner):
    """Hears a BTHome tag, a Ruuvi tag and a stranger as soon as it starts."""

    instances = []

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        loop.call_soon(self.hear, SENSOR_1.lower(), advertisement(rssi=-70))
        loop.call_soon(self.hear, SENSOR_1, advertisement(rssi=-60))
        loop.call_soon(self.hear, SENSOR_1, advertisement(rssi=-65))
        ruuvi = advertisement({}, name="Ruuvi 2233", manufacturer_data={0x0499: RUUVI_RAWV2})
        loop.call_soon(self.hear, "C7:3A:2B:11:22:33", ruuvi)
        loop.call_soon(self.hear, "11:22:33:44:55:66", advertisement({}, name=None, rssi=-90))


async def test_scan_counts_adverts_and_rssi_per_device() -> None:
    err = io.StringIO()
    source = BleakFrameSource(mode="active", stall_s=None, backend=HearingScanner)
    heard = await scan(source, 0.2, progress=err)
    assert heard[SENSOR_1].adverts == 3
    assert (heard[SENSOR_1].rssi_last, heard[SENSOR_1].rssi_max) == (-65, -60)
    assert heard[SENSOR_1].name == "ATC_000001"
    assert {d.kind for d in heard.values()} == {"bthome", "ruuvi", "?"}
    assert "s left" in err.getvalue()  # the countdown


def test_table_lists_what_it_heard_with_the_kind() -> None:
    out = io.StringIO()
    status = run_scan(
        parse("--seconds", "0.2", "--mode", "active"),
        out=out,
        err=io.StringIO(),
        backend=HearingScanner,
    )
    assert status == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["address", "name", "rssi", "last/max", "adverts", "kind"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert list(rows) == [SENSOR_1, "C7:3A:2B:11:22:33", "11:22:33:44:55:66"]  # loudest first
    assert rows[SENSOR_1][1:] == ["ATC_000001", "-65/-60", "3", "bthome"]
    assert rows["C7:3A:2B:11:22:33"][-1] == "ruuvi"
    assert rows["11:22:33:44:55:66"][1:] == ["-", "-90/-90", "1", "?"]
    assert lines[-1].startswith("3 devices heard") and "2 of a kind" in lines[-1]


def test_no_adapter_prints_one_line_and_exits_1() -> None:
    backend = fresh_backend(start_error=FileNotFoundError(2, "No such file or directory"))
    out, err = io.StringIO(), io.StringIO()
    assert run_scan(parse("--adapter", "hci0"), out=out, err=err, backend=backend) == 1
    assert out.getvalue() == ""
    [line] = err.getvalue().strip().splitlines()
    assert line.startswith("coldtrail gateway scan: ble:hci0: no Bluetooth adapter found (hci0)")
    assert "systemctl status bluetooth" in line


def test_other_bleak_failures_also_exit_1() -> None:
    backend = fresh_backend(start_error=BleakError("boom"))
    err = io.StringIO()
    assert run_scan(parse(), out=io.StringIO(), err=err, backend=backend) == 1
    assert "boom" in err.getvalue()


def test_on_this_machine_without_an_adapter() -> None:
    # bleak's real platform backend; this machine has no Bluetooth adapter (and hci99 exists on
    # no machine), so: one line naming the cause and the fix, and status 1.
    out, err = io.StringIO(), io.StringIO()
    assert run_scan(parse("--adapter", "hci99", "--seconds", "1"), out=out, err=err) == 1
    assert out.getvalue() == ""
    [line] = err.getvalue().strip().splitlines()
    assert "no Bluetooth adapter found (hci99)" in line


def test_the_scan_modes_are_the_ble_sources() -> None:
    from gateway import ble_source, scan_cli

    assert scan_cli.MODES == ble_source.MODES
