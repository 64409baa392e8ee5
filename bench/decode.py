"""Device decoding throughput, one core: decoded items per second for each format.

NMEA: the real receiver captures of tests/data/nmea (fixes per second); BTHome and Ruuvi: real
advertisement bytes (readings per second); board: sensor-board frames through the stream
decoder (readings per second). Prints one JSON object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from firmware_bridge.ble import bthome, ruuvi
from firmware_bridge.board.reference_board import ReferenceBoard
from firmware_bridge.board.stream import BoardStream
from firmware_bridge.frames import BleAdvert, SerialChunk
from firmware_bridge.nmea import NmeaStream

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "nmea"
NOW = datetime(2026, 11, 23, tzinfo=UTC)
MIN_SECONDS = 1.0


def rate(run: Callable[[], int]) -> float:
    """Items per second of ``run`` (which returns how many items it decoded), over >= 1 s."""
    items, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < MIN_SECONDS:
        items += run()
    return items / elapsed


def nmea() -> float:
    logs = [
        b"".join(line for line in p.read_bytes().splitlines(True) if not line.startswith(b"#"))
        for p in sorted(DATA.glob("*.log"))
    ]

    def run() -> int:
        count = 0
        for log in logs:
            stream = NmeaStream("gps")
            count += len(stream.feed(SerialChunk("gps", NOW, log)).fixes)
            count += len(stream.flush(NOW).fixes)
        return count

    return rate(run)


def bthome_adverts() -> float:
    # BTHome v2: battery 100 %, temperature 25.06 °C, humidity 50.55 % (bthome.io example).
    advert = BleAdvert(
        "A4:C1:38:00:00:01",
        NOW,
        service_data={bthome.SERVICE_UUID: bytes.fromhex("40016402ca0903bf13")},
    )
    return rate(lambda: sum(len(bthome.decode(advert)) for _ in range(200)))


def ruuvi_adverts() -> float:
    # RuuviTag RAWv2: Ruuvi's "valid" test vector (docs.ruuvi.com, data format 5).
    advert = BleAdvert(
        "C8:25:2D:8E:B4:3A",
        NOW,
        manufacturer_data={
            0x0499: bytes.fromhex("0512fc5394c37c0004fffc040cac364200cdcbb8334c884f")
        },
    )
    return rate(lambda: sum(len(ruuvi.decode(advert)) for _ in range(200)))


def board_frames() -> float:
    board = ReferenceBoard(42)
    frames = b"".join(
        board.reading(
            temperature_centi_c=450 + i % 30,
            humidity_centi_pct=6130,
            accel_mg=(12, -4, 1001),
            battery_pct=87,
        )
        for i in range(500)
    )

    def run() -> int:
        return len(BoardStream("board").feed(SerialChunk("board", NOW, frames)).samples)

    return rate(run)


def main() -> None:
    print(
        json.dumps(
            {
                "nmea_fixes_per_s": round(nmea()),
                "bthome_readings_per_s": round(bthome_adverts()),
                "ruuvi_readings_per_s": round(ruuvi_adverts()),
                "board_readings_per_s": round(board_frames()),
            }
        )
    )


if __name__ == "__main__":
    main()
