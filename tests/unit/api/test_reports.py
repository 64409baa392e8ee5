"""The report's pure parts: profile bands, language choice, downsampling, chart gaps, CSV format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alerts.builtin_profiles import BUILTIN_PROFILES
from api.reports import chart
from api.reports.csv_export import ReadingsSection, cell, fmt_time
from api.reports.data import CHART_BUCKETS, downsample, profile_band
from api.reports.labels import LABELS, language_of
from api.reports.model import Band, ChartSeries

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def test_profile_band() -> None:
    pharma = BUILTIN_PROFILES["pharma-2-8"]
    assert profile_band(pharma)[:2] == (Band(2.0, 8.0), "Refrigerated medicines, 2-8 °C")
    band, _, max_gap = profile_band(BUILTIN_PROFILES["who-type-1"])  # its tightest limits
    assert band == Band(-0.5, 30.0)
    assert max_gap == timedelta(minutes=15)
    assert profile_band(None) == (None, None, timedelta(minutes=15))


def test_language() -> None:
    assert language_of(None, "fr") == "fr"
    assert language_of(None, "fr-CA") == "fr"
    assert language_of("en", "fr") == "en"
    assert language_of(None, "de") == "en"
    assert LABELS["en"].keys() == LABELS["fr"].keys()


def test_downsample_keeps_a_one_reading_spike() -> None:
    series = [(T0 + timedelta(seconds=10 * i), 5.0) for i in range(10_000)]
    series[5_000] = (series[5_000][0], 12.5)
    start, end = series[0][0].timestamp(), series[-1][0].timestamp()
    result = downsample("P1", series, start, end)
    assert len(result.buckets) == CHART_BUCKETS
    assert max(hi for _, _, hi in result.buckets) == 12.5
    assert min(lo for _, lo, _ in result.buckets) == 5.0
    assert all(start <= t <= end for t, _, _ in result.buckets)


def test_chart_line_breaks_at_a_gap_only() -> None:
    minutes = [m for m in range(120) if m not in (30, 31, 32)]  # 4 minutes without a reading
    buckets = tuple((T0.timestamp() + 60 * m, 5.0, 5.0) for m in minutes)
    series = ChartSeries("P1", buckets)
    gap = chart._gap_threshold(series, span=119 * 60)
    runs = chart._runs(buckets, gap, lambda lo, hi: True)
    assert [len(run) for run in runs] == [30, 87]


def test_time_ticks_are_round() -> None:
    start = T0.timestamp() + 17  # 08:00:17
    ticks = chart._time_ticks(start, start + 2 * 3600)
    assert ticks[0] == T0.timestamp() + 1800  # 08:30, every 30 min
    assert all((t - ticks[0]) % 1800 == 0 for t in ticks)
    assert 2 <= len(ticks) <= 7


def test_csv_formats() -> None:
    assert fmt_time(T0) == "2026-05-04T08:00:00.000000Z"
    paris = timezone(timedelta(hours=2))
    assert fmt_time(datetime(2026, 5, 4, 10, 0, 0, 5, tzinfo=paris)) == (
        "2026-05-04T08:00:00.000005Z"
    )
    section = ReadingsSection(Band(2.0, 8.0))
    try:
        section.write(T0, "P,1", "tag-1", 7, 8.5, None)
        section.write(T0, "P2", "tag-2", 8, None, 40.25)
        section.write(T0, "P3", "tag-3", 9, 4.2, 55.0, 4.5, 53.49)  # calibrated on the gateway
        text = "".join(section.chunks())
    finally:
        section.close()
    assert text == (
        '2026-05-04T08:00:00.000000Z,"P,1",tag-1,7,8.5,,false,,\r\n'
        "2026-05-04T08:00:00.000000Z,P2,tag-2,8,,40.25,,,\r\n"
        "2026-05-04T08:00:00.000000Z,P3,tag-3,9,4.2,55.0,true,4.5,53.49\r\n"
    )


def test_csv_text_is_never_a_formula() -> None:
    # A carrier's message or a device id like "=HYPERLINK(...)" must not run in a spreadsheet.
    assert cell('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    assert [cell(v) for v in ("+1 555", "-x", "@SUM(A1)", "\tx")] == [
        "'+1 555",
        "'-x",
        "'@SUM(A1)",
        "'\tx",
    ]
    assert [cell(v) for v in ("-3.500", "+2", "", "Lyon", "tag-1")] == [
        "-3.500",
        "+2",
        "",
        "Lyon",
        "tag-1",
    ]
    section = ReadingsSection(None)
    try:
        section.write(T0, "P1", "=cmd", 1, -1.5, None)
        text = "".join(section.chunks())
    finally:
        section.close()
    assert text == "2026-05-04T08:00:00.000000Z,P1,'=cmd,1,-1.5,,,,\r\n"
