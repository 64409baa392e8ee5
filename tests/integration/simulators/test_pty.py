"""The simulators' NMEA sentences and board frames through a pseudo-terminal pair into the
gateway's real serial source (pyserial), decoded by the gateway's decoders: the serial seam
exactly as a USB GPS receiver or sensor board uses it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.frames import SerialChunk
from gateway.decoding import FrameDecoder
from gateway.serial_source import create_serial
from simulators import fleet
from simulators.pty import PtySerialDevice
from simulators.scenario import load
from simulators.scenario_source import ScenarioVanSource

pytestmark = pytest.mark.integration

SCENARIO = Path(__file__).parents[3] / "scenarios" / "compressor-failure.toml"


def _van() -> ScenarioVanSource:
    scenario = load(SCENARIO)
    plan = fleet.build(vans=scenario.vans, parcels=scenario.parcels, seed=scenario.seed)
    return ScenarioVanSource(scenario, plan.van("van-2"), epoch=1_795_000_000.0)


async def _read_through(device: PtySerialDevice, options: dict[str, str], data: bytes) -> list[Any]:
    source = create_serial({"path": device.path, **options})
    decoder = FrameDecoder()
    decoded = []
    frames = source.frames()
    try:
        first = asyncio.ensure_future(anext(frames))
        await asyncio.sleep(0.3)  # the gateway opened the port (and greeted the board)
        device.write(data)
        chunk = await asyncio.wait_for(first, 5)
        while True:
            assert isinstance(chunk, SerialChunk)
            decoded.append(decoder.decode(chunk))
            if sum(len(d.fixes) + len(d.samples) for d in decoded) >= 10:
                return decoded
            chunk = await asyncio.wait_for(anext(frames), 5)
    finally:
        closing = getattr(frames, "aclose", None)
        if closing is not None:
            with contextlib.suppress(RuntimeError):
                await closing()


def test_nmea_through_a_pty_keeps_the_simulated_time() -> None:
    van = _van()
    data = b""
    times = []
    for t in range(0, 600, 60):
        chunks, _ = van.gps_chunks(t)
        data += b"".join(c.data for c in chunks)
        if chunks:
            times.append(van.sim_time(t).replace(microsecond=0))
    with PtySerialDevice() as device:
        decoded = asyncio.run(
            _read_through(device, {"protocol": "nmea", "device": "GPS-VAN-2"}, data)
        )
        assert device.dropped == 0
    fixes = [f for d in decoded for f in d.fixes]
    assert [d.rejects for d in decoded if d.rejects] == []
    assert [f.measured_at for f in fixes] == times  # the sentences' own (simulated) times
    assert {f.device_id for f in fixes} == {"GPS-VAN-2"}


def test_board_frames_through_a_pty_and_the_time_sync_back() -> None:
    van = _van()
    data = b"".join(c.data for t in range(0, 600, 60) for c in van.board_chunks(t)[0])
    with PtySerialDevice() as device:
        decoded = asyncio.run(_read_through(device, {"protocol": "board"}, data))
        greeting = device.read_available()
    samples = [s for d in decoded for s in d.samples]
    assert [d.rejects for d in decoded if d.rejects] == []
    assert len(samples) >= 10 and all(s.values.accel_g for s in samples)
    assert greeting  # the gateway sent the board its time sync frame on connect
