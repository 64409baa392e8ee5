"""NMEA: real receivers' captures against gpsd's own results, framing, rejects, round trips.

The captures in tests/data/nmea/ come from gpsd's regression tests (see its README.md);
gpsd's decoded TPV reports are the reference.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pynmea2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import nmea_gpsd
from coldtrail.schema import Fix
from firmware_bridge.frames import FixSample, SerialChunk
from firmware_bridge.nmea import NmeaResult, NmeaStream, encode_fix
from tests.unit.firmware_bridge.plausible import assert_plausible

DATA = Path(__file__).parents[2] / "data" / "nmea"
RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# capture -> number of fixes gpsd reports (TPV with time, lat and lon)
CAPTURES = {
    "bu353s4.log": 25,  # SiRF-IV: GGA, GSA, RMC per epoch
    "garmin25lp.log": 10,  # NMEA 2.0, no fractional seconds; 10 void epochs before the fix
    "nmea-fuzzy-cases.log": 14,  # Trimble RTK: 8-decimal minutes, GP and GN talkers
    "quectel-L70.log": 16,  # ZDA first, proprietary PMTK/PQVERNO sentences, CRLF
    "ublox-neo-m9n-nmea.log": 61,  # GN talker, NMEA 4.1 RMC, VTG/GLL/GST/ZDA after GGA
}


def receiver_bytes(name: str) -> bytes:
    """The capture without gpsd's '#' comment lines (test harness metadata)."""
    lines = (DATA / name).read_bytes().splitlines(keepends=True)
    return b"".join(line for line in lines if not line.startswith(b"#"))


def capture_date(name: str) -> datetime:
    """The capture's ``# Date:`` line: when it was recorded. Replayed with that as the gateway's
    clock, as gpsd's regression harness does (``gpsd_set_century``), so that the GPS week
    rollover rule sees the receiver's dates as it did then."""
    for line in (DATA / name).read_text().splitlines():
        if line.startswith("# Date:"):
            return datetime.fromisoformat(line.split(":", 1)[1].strip()).replace(tzinfo=UTC)
    raise AssertionError(f"{name} has no '# Date:' line")


def gpsd_fixes(name: str) -> dict[datetime, dict[str, float]]:
    """gpsd's last TPV report of each epoch that has a position."""
    reports: dict[datetime, dict[str, float]] = {}
    for line in (DATA / f"{name}.chk").read_text().splitlines():
        if not line.startswith("{"):
            continue
        report = json.loads(line)
        if report.get("class") == "TPV" and {"time", "lat", "lon"} <= report.keys():
            reports[datetime.fromisoformat(report["time"])] = report
    return reports


def decode(
    chunks: list[bytes], stream: NmeaStream | None = None, at: datetime = RECEIVED
) -> tuple[NmeaStream, NmeaResult]:
    stream = stream or NmeaStream("gps-1")
    total = NmeaResult()
    for i, data in enumerate(chunks):
        result = stream.feed(SerialChunk("/dev/ttyUSB0", at + timedelta(seconds=i), data))
        total.fixes += result.fixes
        total.rejects += result.rejects
    last = stream.flush(at + timedelta(seconds=len(chunks)))
    total.fixes += last.fixes
    total.rejects += last.rejects
    return stream, total


def positions(fixes: list[FixSample]) -> list[tuple[datetime | None, float, float]]:
    return [(f.measured_at, f.fix.lat, f.fix.lon) for f in fixes]


def sentence(body: str) -> bytes:
    """A sentence with its correct checksum and CRLF."""
    return f"${body}*{pynmea2.NMEASentence.checksum(body):02X}\r\n".encode()


@pytest.mark.parametrize(("name", "count"), CAPTURES.items())
def test_capture_gives_the_fixes_gpsd_gives(name: str, count: int) -> None:
    stream, result = decode([receiver_bytes(name)], at=capture_date(name))
    expected = gpsd_fixes(name)
    assert result.rejects == []
    assert stream.rollovers == 0
    assert len(expected) == count
    ours: dict[datetime, FixSample] = {}
    for decoded in result.fixes:
        assert decoded.measured_at is not None
        ours[decoded.measured_at] = decoded
    assert len(ours) == len(result.fixes), "one fix per epoch"
    assert sorted(ours) == sorted(expected)
    for at, sample in ours.items():
        assert_plausible(sample)
        report, fix = expected[at], sample.fix
        assert fix.lat == pytest.approx(report["lat"], abs=1e-8)
        assert fix.lon == pytest.approx(report["lon"], abs=1e-8)
        assert (fix.speed_kmh is None) == ("speed" not in report)
        if fix.speed_kmh is not None:  # gpsd: m/s, 3 decimals
            assert fix.speed_kmh / 3.6 == pytest.approx(report["speed"], abs=6e-4)
        assert (fix.heading_deg is None) == ("track" not in report)
        if fix.heading_deg is not None:
            assert fix.heading_deg == pytest.approx(report["track"], abs=1e-4)
        assert (fix.altitude_m is None) == ("altMSL" not in report)
        if fix.altitude_m is not None:
            assert fix.altitude_m == pytest.approx(report["altMSL"], abs=1e-6)
        assert sample.sensor_seq is None
        assert sample.device_id == "gps-1"


def test_garmin_counts_its_void_epochs() -> None:
    stream, _ = decode([receiver_bytes("garmin25lp.log")])
    assert stream.skipped == {"void-rmc": 10, "no-fix-gga": 9}


def test_merged_epoch_carries_rmc_and_gga_fields() -> None:
    _, result = decode([receiver_bytes("bu353s4.log")], at=capture_date("bu353s4.log"))
    first = result.fixes[0]
    # $GPGGA,030719.000,3747.0873,S,17518.8938,E,1,08,1.1,59.9,M,... and
    # $GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A
    assert first.measured_at == datetime(2014, 12, 31, 3, 7, 19, tzinfo=UTC)
    assert first.fix == Fix(
        lat=-(37 + 47.0873 / 60),
        lon=175 + 18.8938 / 60,
        speed_kmh=0.69 * 1.852,
        heading_deg=181.39,
        altitude_m=59.9,
        hdop=1.1,
        fix_quality=1,
        satellites=8,
    )


@pytest.mark.parametrize("name", CAPTURES)
def test_byte_by_byte_gives_the_same_fixes(name: str) -> None:
    data = receiver_bytes(name)
    _, whole = decode([data])
    _, split = decode([data[i : i + 1] for i in range(len(data))])
    assert positions(split.fixes) == positions(whole.fixes)
    assert split.rejects == []


def test_every_two_chunk_split_gives_the_same_fixes() -> None:
    data = b"".join(receiver_bytes("nmea-fuzzy-cases.log").splitlines(keepends=True)[:8])
    _, whole = decode([data])
    assert len(whole.fixes) == 4
    for cut in range(len(data) + 1):
        _, split = decode([data[:cut], data[cut:]])
        assert positions(split.fixes) == positions(whole.fixes), cut


def test_received_at_is_when_the_epoch_was_complete() -> None:
    rmc, gga = receiver_bytes("nmea-fuzzy-cases.log").splitlines(keepends=True)[1::-1]
    _, result = decode([gga, rmc])  # GGA at RECEIVED, RMC one second later
    assert [f.received_at for f in result.fixes] == [RECEIVED + timedelta(seconds=1)]


def test_bad_checksum_is_rejected_with_its_bytes() -> None:
    good = b"$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A*7D"
    bad = good.replace(b"3747.0873", b"3747.0874")
    _, result = decode([bad + b"\r\n"])
    assert result.fixes == []
    [reject] = result.rejects
    assert reject.raw == bad
    assert "bad checksum" in str(reject)
    assert bad.hex() in str(reject)
    assert reject.device == "gps-1"


def test_missing_checksum_is_rejected() -> None:
    line = b"$GPRMC,030719.000,A,3747.0873,S,17518.8938,E,0.69,181.39,311214,,,A"
    _, result = decode([line + b"\n"])
    assert [r.raw for r in result.rejects] == [line]


def test_garbage_between_sentences_is_rejected_and_sentences_survive() -> None:
    lines = receiver_bytes("bu353s4.log").splitlines(keepends=True)
    noisy = [b"\x00\xff noise\r\n", *lines[:3], b"\r\n", b"GGA,1,2*00\r\n", b"#$%", *lines[3:6]]
    _, clean = decode([b"".join(lines[:6])])
    _, result = decode([b"".join(noisy)])
    assert positions(result.fixes) == positions(clean.fixes)
    # b"#$%" has no end of line: it is what comes before the next sentence's "$"
    assert [r.raw for r in result.rejects] == [b"\x00\xff noise", b"GGA,1,2*00", b"#$%"]


def test_bytes_before_a_sentence_start_are_rejected_alone() -> None:
    gga, _, rmc = receiver_bytes("bu353s4.log").splitlines(keepends=True)[:3]
    _, result = decode([b"$GPGGA,0307" + gga + rmc])  # a sentence cut off by a new one
    assert [r.raw for r in result.rejects] == [b"$GPGGA,0307"]
    assert len(result.fixes) == 1


def test_a_line_without_end_is_dropped_into_a_reject() -> None:
    flood = b"A" * 5000
    lines = receiver_bytes("bu353s4.log").splitlines(keepends=True)
    stream = NmeaStream("gps-1")
    first = stream.feed(SerialChunk("/dev/ttyUSB0", RECEIVED, flood))
    assert [r.raw for r in first.rejects] == [flood]
    assert "no end of line" in str(first.rejects[0])
    _, result = decode([b"\r\n", *lines[:3]], stream)
    assert len(result.fixes) == 1
    assert result.rejects == []


def test_void_rmc_without_time_is_counted() -> None:
    # what receivers send before they know the time
    stream, result = decode(
        [sentence("GPRMC,,V,,,,,,,,,,N"), sentence("GPGGA,,,,,,0,00,99.99,,,,,,")]
    )
    assert result.fixes == []
    assert result.rejects == []
    assert stream.skipped == {"void-rmc": 1, "no-fix-gga": 1}


def test_gga_only_epoch_needs_a_known_date() -> None:
    gga = sentence("GPGGA,235959.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
    stream, result = decode([gga])
    assert result.fixes == []
    assert stream.skipped == {"no-date": 1}


def test_gga_only_epochs_take_the_last_date_and_roll_over_midnight() -> None:
    rmc = sentence("GPRMC,235958.00,A,4807.038,N,01131.000,E,022.4,084.4,311224,003.1,W")
    late = sentence("GPGGA,235959.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
    after = sentence("GPGGA,000000.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
    _, result = decode([rmc, late, after])
    assert [f.measured_at for f in result.fixes] == [
        datetime(2024, 12, 31, 23, 59, 58, tzinfo=UTC),
        datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC),
    ]


def test_rmc_only_epoch_is_emitted_on_flush() -> None:
    _, result = decode([sentence("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230324,,")])
    [fix] = result.fixes
    assert fix.measured_at == datetime(2024, 3, 23, 12, 35, 19, tzinfo=UTC)
    assert fix.fix.speed_kmh == pytest.approx(22.4 * 1.852)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("GPRMC,123519,A,,,,,022.4,084.4,230394,,", "position"),  # valid, yet no position
        ("GPRMC,123519,A,4867.038,N,01131.000,E,022.4,084.4,230394,,", "DDDMM.MMMM"),
        ("GPRMC,1235,A,4807.038,N,01131.000,E,022.4,084.4,230394,,", "time"),
        ("GPRMC,123519,A,4807.038,N,01131.000,E,fast,084.4,230394,,", "spd_over_grnd"),
        ("GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,320394,,", "date"),
        ("GPGGA,123519,4807.038,N,01131.000,E,1,eight,0.9,545.4,M,46.9,M,,", "num_sats"),
        ("GPZDA,123519.00,32,13,2024,,", "date"),
    ],
)
def test_malformed_fields_are_rejected(body: str, reason: str) -> None:
    line = sentence(body)
    _, result = decode([line])
    [reject] = result.rejects
    assert reason in reject.reason
    assert reject.raw == line.strip()
    assert result.fixes == []


def test_fix_outside_the_contract_is_rejected_with_the_epoch_lines() -> None:
    rmc = sentence("GPRMC,123519,A,9107.038,N,01131.000,E,022.4,084.4,230394,,")
    _, result = decode([rmc])
    [reject] = result.rejects
    assert "lat" in reject.reason
    assert reject.raw == rmc.strip()


def test_unknown_sentences_are_counted_and_any_talker_is_read() -> None:
    stream, result = decode(
        [sentence("GPXYZ,1,2,3"), sentence("IIRMC,123519,A,4807.038,N,01131.000,E,,,230324,,")]
    )
    assert positions(result.fixes) == [
        (datetime(2024, 3, 23, 12, 35, 19, tzinfo=UTC), 48 + 7.038 / 60, 11 + 31 / 60)
    ]
    assert result.rejects == []
    assert stream.skipped == {"unknown-sentence": 1}


fixes = st.builds(
    Fix,
    lat=st.floats(-89.999, 89.999),
    lon=st.floats(-179.999, 179.999),
    speed_kmh=st.none() | st.floats(0, 500),
    heading_deg=st.none() | st.floats(0, 359.99),
    altitude_m=st.none() | st.floats(-400, 9000),
    hdop=st.none() | st.floats(0, 99),
    fix_quality=st.none() | st.integers(1, 8),
    satellites=st.none() | st.integers(0, 99),
)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2068, 12, 31), timezones=st.just(UTC)
).map(lambda at: at.replace(microsecond=at.microsecond // 1000 * 1000))


@given(
    fix=fixes, at=times, talker=st.sampled_from(["GP", "GN", "GL", "GA", "BD", "GB", "QZ", "IN"])
)
def test_encode_fix_round_trip(fix: Fix, at: datetime, talker: str) -> None:
    _, result = decode([encode_fix(fix, at, talker)], at=at)  # the gateway's clock agrees
    assert result.rejects == []
    [sample] = result.fixes
    decoded = sample.fix
    assert sample.measured_at == at
    assert decoded.lat == pytest.approx(fix.lat, abs=1e-7)
    assert decoded.lon == pytest.approx(fix.lon, abs=1e-7)
    assert decoded.fix_quality == (fix.fix_quality or 1)
    assert decoded.satellites == fix.satellites
    for name, tolerance in [("speed_kmh", 1e-3), ("altitude_m", 5.1e-3), ("hdop", 5.1e-3)]:
        value = getattr(fix, name)
        assert getattr(decoded, name) == (
            None if value is None else pytest.approx(value, abs=tolerance)
        )
    if fix.heading_deg is not None:
        assert decoded.heading_deg is not None
        difference = abs(decoded.heading_deg - fix.heading_deg) % 360
        assert min(difference, 360 - difference) <= 5e-3


def test_encode_fix_is_what_a_receiver_sends() -> None:
    fix = Fix(lat=-37.784788333, lon=175.314896667, speed_kmh=0.69 * 1.852, heading_deg=181.39,
              altitude_m=59.9, hdop=1.1, fix_quality=1, satellites=8)  # fmt: skip
    data = encode_fix(fix, datetime(2014, 12, 31, 3, 7, 19, tzinfo=UTC))
    rmc, gga = data.split(b"\r\n")[:2]
    assert data.endswith(b"\r\n")
    assert rmc.startswith(b"$GPRMC,030719.000,A,3747.087300,S,17518.893800,E,0.6900,181.39,311214")
    assert gga.startswith(b"$GPGGA,030719.000,3747.087300,S,17518.893800,E,1,08,1.10,59.90,M")
    pynmea2.parse(rmc.decode(), check=True)
    pynmea2.parse(gga.decode(), check=True)


def test_encode_fix_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        encode_fix(Fix(lat=1, lon=2), datetime(2024, 1, 1))


@given(chunks=st.lists(st.binary(max_size=200), max_size=10))
def test_arbitrary_bytes_raise_nothing(chunks: list[bytes]) -> None:
    _, result = decode(chunks)
    for sample in result.fixes:
        assert_plausible(sample)


field_text = st.text(alphabet="0123456789.,-NSEWAVDM", max_size=80)


@given(
    bodies=st.lists(
        st.tuples(st.sampled_from(["GPRMC", "GPGGA", "GNGNS", "GPVTG", "GPZDA"]), field_text),
        max_size=8,
    )
)
def test_arbitrary_fields_with_good_checksums_raise_nothing(
    bodies: list[tuple[str, str]],
) -> None:
    lines = [sentence(f"{kind},{fields}") for kind, fields in bodies]
    _, result = decode(lines)
    for sample in result.fixes:
        assert -90 <= sample.fix.lat <= 90
        assert -180 <= sample.fix.lon <= 180


def test_every_capture_gives_every_fix_gpsd_reports() -> None:
    """All captures, the new talkers and GLL included, against gpsd's own reports."""
    for capture in nmea_gpsd.captures():
        counts = nmea_gpsd.compare(capture)
        assert counts["gpsd"] > 0, capture.name
        assert counts["found"] == counts["gpsd"], (capture.name, counts)


def test_integrated_navigation_talker_in_gives_its_fixes() -> None:
    # Kongsberg Seapath 330: $INZDA at .17 and $INGGA/$INRMC at .16 are one cycle (10 ms)
    capture = nmea_gpsd.load(DATA / "seapath330-in.log")
    stream, result = decode([capture.receiver_bytes], at=datetime(2014, 8, 1, tzinfo=UTC))
    assert result.rejects == []
    assert len(result.fixes) == 10
    first = result.fixes[0]
    # $INRMC,000000.16,A,2200.110899,S,01756.359432,W,9.1,215.11,010814,24.7,W,A
    assert first.measured_at == datetime(2014, 8, 1, 0, 0, 0, 160000, tzinfo=UTC)
    assert first.fix.lat == pytest.approx(-(22 + 0.110899 / 60), abs=1e-9)
    assert first.fix.lon == pytest.approx(-(17 + 56.359432 / 60), abs=1e-9)
    assert first.fix.speed_kmh == pytest.approx(9.1 * 1.852)
    assert first.fix.altitude_m == -2.76
    assert stream.rollovers == 0


def test_gll_alone_gives_fixes_dated_by_zda() -> None:
    """The Seapath capture as a receiver set to send only ZDA and GLL would send it (its own
    lines, the others left out)."""
    lines = receiver_bytes("seapath-gll.log").splitlines(keepends=True)
    kept = [line for line in lines if line[3:6] in (b"ZDA", b"GLL")]
    assert len(kept) == 10
    stream, result = decode([b"".join(kept)], at=datetime(2018, 12, 6, tzinfo=UTC))
    assert result.rejects == []
    # $GPGLL,4812.030845,N,12307.411216,W,000000.69,A,D and $GPZDA,000000.69,06,12,2018
    assert positions(result.fixes)[0] == (
        datetime(2018, 12, 6, 0, 0, 0, 690000, tzinfo=UTC),
        pytest.approx(48 + 12.030845 / 60, abs=1e-9),
        pytest.approx(-(123 + 7.411216 / 60), abs=1e-9),
    )
    assert len(result.fixes) == 5
    assert {f.fix.fix_quality for f in result.fixes} == {2}  # mode D: differential
    assert stream.skipped == {}


def test_void_gll_gives_no_fix() -> None:
    stream, result = decode(
        [
            sentence("GPZDA,000000.69,06,12,2018,,"),
            sentence("GPGLL,4812.030845,N,12307.411216,W,000000.69,V,N"),
        ]
    )
    assert result.fixes == []
    assert stream.skipped == {"void-gll": 1}


def test_when_sentences_of_a_cycle_disagree_the_later_one_wins_as_in_gpsd() -> None:
    gga = sentence("GPGGA,120000.00,4807.000,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,")
    rmc = sentence("GPRMC,120000.00,A,4807.100,N,01131.100,E,1.0,90.0,230324,,,A")
    gll = sentence("GPGLL,4807.200,N,01131.200,E,120000.00,A,A")
    _, result = decode([gga + rmc + gll])
    [fix] = result.fixes
    assert fix.fix.lat == pytest.approx(48 + 7.2 / 60)  # GLL, the last one
    assert fix.fix.lon == pytest.approx(11 + 31.2 / 60)
    assert fix.fix.altitude_m == 545.4  # what only GGA says is kept
    _, result = decode([gll + rmc + gga])
    [fix] = result.fixes
    assert fix.fix.lat == pytest.approx(48 + 7.0 / 60)  # GGA, the last one
    assert fix.fix.lon == pytest.approx(11 + 31 / 60)


def test_cycle_ends_at_the_learned_end_of_cycle_sentence() -> None:
    """After one change of time, the sentence type that closed a cycle closes the next ones at
    once (no waiting for the next second), as gpsd's cycle-ender detection."""
    lines = receiver_bytes("bu353s4.log").splitlines(keepends=True)
    stream = NmeaStream("gps-1")
    emitted_after: list[bytes] = []
    for line in lines:
        result = stream.feed(SerialChunk("/dev/ttyUSB0", datetime(2014, 12, 31, tzinfo=UTC), line))
        if result.fixes:
            emitted_after.append(line[3:6])
    assert set(emitted_after[1:]) == {b"RMC"}  # GGA, GSA, (GSV), RMC: RMC ends each cycle


def test_gps_week_rollover_is_corrected_as_gpsd_does() -> None:
    # 2026-12-07 - 1024 weeks = 2007-04-23: what a receiver with the rollover bug reports
    rmc = sentence("GPRMC,081500.00,A,4807.038,N,01131.000,E,0.0,,230407,,,A")
    stream, result = decode([rmc], at=datetime(2026, 12, 7, 8, 15, tzinfo=UTC))
    assert [f.measured_at for f in result.fixes] == [datetime(2026, 12, 7, 8, 15, tzinfo=UTC)]
    assert stream.rollovers == 1
    # the gateway's clock unset (a Pi without RTC boots in 1970): nothing to compare with
    stream, result = decode([rmc], at=datetime(1970, 1, 1, tzinfo=UTC))
    assert [f.measured_at for f in result.fixes] == [datetime(2007, 4, 23, 8, 15, tzinfo=UTC)]
    assert stream.rollovers == 0


def test_gps_week_rollover_on_a_real_capture_matches_gpsd_3_22() -> None:
    """gpsd 3.22, run on 2026-12-07, reports the 2014 Seapath fixes in 2034 (1024 weeks on)."""
    capture = nmea_gpsd.load(DATA / "seapath330-in.log")
    assert capture.clock == datetime(2026, 12, 7, tzinfo=UTC)
    stream, result = decode([capture.receiver_bytes], at=capture.clock)
    assert stream.rollovers == len(result.fixes) == 10
    assert set(capture.gpsd) <= {f.measured_at for f in result.fixes}
    assert min(capture.gpsd) == datetime(2034, 3, 17, 0, 0, 1, 160000, tzinfo=UTC)


def test_garmin_48_fixes_that_only_gll_carries() -> None:
    """The Garmin 48 sends its GLL one second after its RMC/GGA: a fix of its own, which gpsd
    reports (gpsd's capture, with its 2001 dates moved 1024 weeks on, as gpsd did)."""
    capture = nmea_gpsd.load(DATA / "garmin48.log")
    stream, result = decode([capture.receiver_bytes], at=capture.clock)
    [reject] = result.rejects  # the capture's one truncated sentence ('*7')
    assert reject.raw.endswith(b"*7") and "unparsable" in reject.reason
    times = {f.measured_at: f for f in result.fixes}
    gll_only = [t for t in capture.gpsd if t.second % 2 == 1]
    assert len(gll_only) == 7
    for at in gll_only:
        fix = times[at].fix
        assert (fix.lat, fix.lon) == (
            pytest.approx(capture.gpsd[at][0], abs=1e-8),
            pytest.approx(capture.gpsd[at][1], abs=1e-8),
        )
        assert fix.altitude_m is None  # GLL has none; the RMC/GGA cycle before it had
    assert min(times) == datetime(2021, 1, 20, 22, 53, 8, tzinfo=UTC)
    assert stream.rollovers == 7  # the RMC-dated cycles; the GLL ones take their corrected date
