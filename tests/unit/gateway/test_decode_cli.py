"""``coldtrail decode``: what support staff run on a customer's capture."""

import io
import json
from datetime import UTC, datetime

import pytest

from coldtrail.schema import Fix
from firmware_bridge.nmea import encode_fix
from gateway.decode_cli import Report, decode_nmea
from tests.unit.firmware_bridge.test_nmea import CAPTURES, DATA, gpsd_fixes


def run_nmea(data: bytes) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = decode_nmea(io.BytesIO(data), "gps", Report(out, err))
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_every_fix_gpsd_reports_and_nothing_else(name: str) -> None:
    status, items, err = run_nmea((DATA / name).read_bytes())
    assert status == 0, err
    ours = {datetime.fromisoformat(str(i["measured_at"])): i for i in items}
    theirs = gpsd_fixes(name)
    assert ours.keys() == theirs.keys()
    for at, report in theirs.items():
        assert ours[at]["lat"] == pytest.approx(report["lat"], abs=1e-6)
        assert ours[at]["lon"] == pytest.approx(report["lon"], abs=1e-6)
        assert ours[at]["kind"] == "position"
    assert f"{len(items)} decoded, 0 rejected" in err


def test_rejects_go_to_stderr_with_their_hex_and_the_exit_status_says_so() -> None:
    good = encode_fix(
        Fix(lat=45.75, lon=4.85, fix_quality=1), datetime(2026, 11, 23, 12, tzinfo=UTC)
    )
    status, items, err = run_nmea(b"# a comment\r\n" + good + b"$GPRMC,broken*00\r\n")
    assert status == 1
    assert [(i["lat"], i["lon"]) for i in items] == [(45.75, 4.85)]
    assert b"$GPRMC,broken*00".hex() in err  # the raw bytes, in hex
    assert err.splitlines()[-1] == "1 decoded, 1 rejected; skipped: 1 comment-line"
