"""Gateway.reconfigure with new serial ports: a port that does not open makes it raise (the
command is ``failed``) before the running sources stop; one that opens (a pty) is taken."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from coldtrail.settings import GatewaySettings
from gateway.outbox import MemoryOutbox
from gateway.service import Gateway
from gateway.wiring import build_sources


@pytest.fixture
def pty_path() -> Iterator[str]:
    controller, port = os.openpty()
    try:
        yield os.ttyname(port)
    finally:
        os.close(port)
        os.close(controller)


def serial(path: str) -> GatewaySettings:
    return GatewaySettings(gateway_id="van-7", serial=[{"path": path, "protocol": "nmea"}])


def gateway() -> Gateway:
    settings = GatewaySettings(gateway_id="van-7")
    return Gateway(settings, [], outbox=MemoryOutbox(100), build_sources=build_sources)


async def test_a_serial_port_that_does_not_open_fails_and_the_old_configuration_stays(
    tmp_path: Path,
) -> None:
    g = gateway()
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(OSError, match="ttyUSB9"):
        await g.reconfigure(serial(missing))
    assert g.settings.serial == []
    assert g.status().sources == {}


async def test_a_serial_port_that_opens_is_taken(pty_path: str) -> None:
    g = gateway()
    await g.reconfigure(serial(pty_path))
    assert [port.path for port in g.settings.serial] == [pty_path]
