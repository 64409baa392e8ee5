"""A parcel's temperature chart, drawn with reportlab's graphics: the profile's band shaded,
the downsampled readings as a line (each time slot's lowest and highest reading, so one spike
still shows), the readings outside the band in red and the stored excursion alerts shaded."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors

from api.reports.data import CHART_BUCKETS
from api.reports.model import Band, ChartSeries, Excursion

BAND_FILL = colors.HexColor("#cdeccd")
"""The band's shading (tests look for this colour on the rendered page)."""
EXCURSION_FILL = colors.HexColor("#f8d3d3")
LINE = colors.HexColor("#1f5fa8")
OUT_OF_BAND = colors.HexColor("#d62728")
AXIS = colors.HexColor("#555555")
GRID = colors.HexColor("#e4e4e4")

_LEFT, _RIGHT, _BOTTOM, _TOP = 38.0, 8.0, 22.0, 14.0
_FONT = 7


def _nice_step(span: float, ticks: int) -> float:
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


_TIME_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)


def _time_ticks(start: float, end: float, most: int = 7) -> list[float]:
    """Round times (whole minutes, hours or days, UTC) across [start, end], at most ``most``."""
    span = end - start
    step = next((s for s in _TIME_STEPS_S if span / s <= most), None)
    if step is None:
        step = 86400 * math.ceil(span / most / 86400)
    first = math.ceil(start / step) * step
    return [first + i * step for i in range(int((end - first) // step) + 1)]


def _time_label(epoch: float, span_s: float) -> str:
    at = datetime.fromtimestamp(epoch, UTC)
    return at.strftime("%H:%M") if span_s <= 86_400 else at.strftime("%d/%m %H:%M")


def temperature_chart(
    series: ChartSeries,
    time_range: tuple[float, float],
    band: Band | None,
    excursions: Sequence[Excursion],
    *,
    width: float,
    height: float,
    font: str,
    title: str,
) -> Drawing:
    drawing = Drawing(width, height)
    x0, x1 = _LEFT, width - _RIGHT
    y0, y1 = _BOTTOM, height - _TOP
    start, end = time_range
    end = max(end, start + 1.0)
    values = [v for _, lo, hi in series.buckets for v in (lo, hi)]
    limits = [v for v in ((band.low_c, band.high_c) if band else ()) if v is not None]
    low = min([*values, *limits])
    high = max([*values, *limits])
    margin = max((high - low) * 0.08, 0.5)
    low, high = low - margin, high + margin
    step = _nice_step(high - low, 6)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step

    def x(epoch: float) -> float:
        return x0 + (epoch - start) / (end - start) * (x1 - x0)

    def y(value: float) -> float:
        return y0 + (value - low) / (high - low) * (y1 - y0)

    drawing.add(String(x0, height - 10, title, fontName=font, fontSize=8))
    # Stored excursions first (under everything), then the band, the grid, the data.
    for excursion in excursions:
        left = x(max(excursion.started_at.timestamp(), start))
        right = x(min((excursion.ended_at or datetime.fromtimestamp(end, UTC)).timestamp(), end))
        if right > left:
            drawing.add(
                Rect(left, y0, right - left, y1 - y0, fillColor=EXCURSION_FILL, strokeColor=None)
            )
    if band is not None:
        band_low = y(band.low_c) if band.low_c is not None else y0
        band_high = y(band.high_c) if band.high_c is not None else y1
        drawing.add(
            Rect(x0, band_low, x1 - x0, band_high - band_low, fillColor=BAND_FILL, strokeColor=None)
        )
    value = low
    while value <= high + step / 2:
        drawing.add(Line(x0, y(value), x1, y(value), strokeColor=GRID, strokeWidth=0.4))
        drawing.add(_label(x0 - 3, y(value) - 2.5, f"{value:g} °C", font, "end"))
        value += step
    span = end - start
    for epoch in _time_ticks(start, end):
        drawing.add(Line(x(epoch), y0, x(epoch), y0 - 3, strokeColor=AXIS, strokeWidth=0.5))
        drawing.add(_label(x(epoch), y0 - 11, _time_label(epoch, span), font, "middle"))
    drawing.add(Line(x0, y0, x1, y0, strokeColor=AXIS, strokeWidth=0.6))
    drawing.add(Line(x0, y0, x0, y1, strokeColor=AXIS, strokeWidth=0.6))
    if series.buckets:
        # A break in the line where readings stop for longer than usual: a gap must show.
        gap_s = _gap_threshold(series, span)
        points = [((x(t), y(lo)), (x(t), y(hi))) for t, lo, hi in series.buckets]
        for run in _runs(series.buckets, gap_s, lambda lo, hi: True):
            drawing.add(_line([p for i in run for p in points[i]], LINE, 0.8))
        if band is not None:
            for run in _runs(series.buckets, gap_s, lambda lo, hi: _outside(band, lo, hi)):
                drawing.add(_line([p for i in run for p in points[i]], OUT_OF_BAND, 1.6))
    return drawing


def _label(x: float, y: float, text: str, font: str, anchor: str) -> String:
    label = String(x, y, text, fontName=font, fontSize=_FONT)
    label.textAnchor = anchor
    return label


def _gap_threshold(series: ChartSeries, span: float) -> float:
    """Further apart than this, two buckets are not joined: three times the series' usual
    distance between buckets (its sampling interval, once that is longer than a bucket)."""
    times = [t for t, _, _ in series.buckets]
    steps = sorted(b - a for a, b in itertools.pairwise(times))
    usual = steps[len(steps) // 2] if steps else 0.0
    return max(2.5 * span / CHART_BUCKETS, 3 * usual)


def _outside(band: Band, lo: float, hi: float) -> bool:
    return band.breach(lo) is not None or band.breach(hi) is not None


def _runs(
    buckets: Sequence[tuple[float, float, float]],
    gap_s: float,
    keep: Callable[[float, float], bool],
) -> list[list[int]]:
    """Indexes of consecutive kept buckets, split where buckets are further apart than gap_s."""
    runs: list[list[int]] = []
    previous: float | None = None
    for index, (t, lo, hi) in enumerate(buckets):
        if not keep(lo, hi):
            previous = None
            continue
        if previous is None or t - previous > gap_s:
            runs.append([])
        runs[-1].append(index)
        previous = t
    return runs


def _line(points: list[tuple[float, float]], colour: colors.Color, width: float) -> PolyLine:
    if len(points) == 2 and points[0] == points[1]:  # one reading: a visible dot
        x, y = points[0]
        points = [(x - width, y), (x + width, y)]
    return PolyLine(
        [c for p in points for c in p],
        strokeColor=colour,
        strokeWidth=width,
        strokeLineJoin=1,
        strokeLineCap=1,
    )
