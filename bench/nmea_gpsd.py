"""NMEA fixes found against gpsd's, on real receiver captures: prints one JSON object.

For every capture in tests/data/nmea (``NAME.log`` with gpsd's reports in ``NAME.log.chk``):
``gpsd`` is the number of epochs for which gpsd reports a fix (a ``TPV`` with ``time``, ``lat``
and ``lon``; the last one of each time), ``found`` how many of those coldtrail's
:class:`~firmware_bridge.nmea.NmeaStream` also gives (same UTC time, latitude and longitude
within 1e-8 degree), ``extra`` the fixes coldtrail gives that gpsd does not report (gpsd does
not report an epoch before it has learned the receiver's end-of-cycle sentence, nor the last
epoch of a file that ends mid-cycle). The capture is replayed with the gateway's clock at its
``# Clock:`` line (when gpsd decoded it), :data:`REPLAY_CLOCK`, or else its ``# Date:`` line
(gpsd's regression harness).

``fraction`` is found / gpsd over all captures. Run it against another checkout to compare:
``PYTHONPATH=/path/to/other python -m bench.nmea_gpsd`` (the captures are read from this file's
tree).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from firmware_bridge.frames import SerialChunk
from firmware_bridge.nmea import NmeaStream

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "nmea"
TOLERANCE_DEG = 1e-8
REPLAY_CLOCK = {"garmin48.log": datetime(2021, 1, 20, tzinfo=UTC)}
"""Captures copied unchanged from gpsd whose ``.chk`` was made by a gpsd that knew 18 leap
seconds (after 2017) and so moved their 2001 dates 1024 weeks on: a coldtrail gateway does the
same when its clock is past 2017-01-01."""


@dataclass(frozen=True, slots=True)
class Capture:
    name: str
    receiver_bytes: bytes
    clock: datetime
    gpsd: dict[datetime, tuple[float, float]]


def _header(text: str, key: str) -> datetime | None:
    for line in text.splitlines():
        if line.startswith(f"# {key}:"):
            value = line.split(":", 1)[1].strip()
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return None


def load(path: Path) -> Capture:
    """A capture: the receiver's bytes (without the '#' lines), the clock to replay it with,
    and gpsd's fixes by time."""
    raw = path.read_bytes()
    text = raw.decode("ascii", errors="replace")
    clock = REPLAY_CLOCK.get(path.name) or _header(text, "Clock") or _header(text, "Date")
    if clock is None:
        raise ValueError(f"{path.name}: no '# Clock:' or '# Date:' line")
    data = b"".join(line for line in raw.splitlines(True) if not line.startswith(b"#"))
    gpsd: dict[datetime, tuple[float, float]] = {}
    for line in path.with_name(path.name + ".chk").read_text().splitlines():
        if not line.startswith("{"):
            continue
        report = json.loads(line)
        if report.get("class") == "TPV" and {"time", "lat", "lon"} <= report.keys():
            gpsd[datetime.fromisoformat(report["time"])] = (report["lat"], report["lon"])
    return Capture(path.name, data, clock, gpsd)


def captures() -> list[Capture]:
    return [load(path) for path in sorted(DATA.glob("*.log"))]


def compare(capture: Capture) -> dict[str, int]:
    stream = NmeaStream("gps")
    result = stream.feed(SerialChunk("gps", capture.clock, capture.receiver_bytes))
    fixes = result.fixes + stream.flush(capture.clock).fixes
    ours = {f.measured_at: (f.fix.lat, f.fix.lon) for f in fixes}
    found = sum(
        1
        for at, (lat, lon) in capture.gpsd.items()
        if at in ours
        and math.isclose(ours[at][0], lat, abs_tol=TOLERANCE_DEG)
        and math.isclose(ours[at][1], lon, abs_tol=TOLERANCE_DEG)
    )
    return {"gpsd": len(capture.gpsd), "found": found, "extra": len(set(ours) - set(capture.gpsd))}


def main() -> None:
    per_capture = {capture.name: compare(capture) for capture in captures()}
    gpsd = sum(counts["gpsd"] for counts in per_capture.values())
    found = sum(counts["found"] for counts in per_capture.values())
    print(
        json.dumps(
            {
                "benchmark": "nmea_gpsd",
                "captures": per_capture,
                "gpsd_fixes": gpsd,
                "found": found,
                "fraction": round(found / gpsd, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
