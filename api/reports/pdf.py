"""The report as an A4 PDF (reportlab's platypus): header, one temperature chart per parcel,
statistics, excursions, data completeness, custody, route, checkpoints, exceptions with their
audit verdict; the content hash in every page's footer."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from api.reports.chart import temperature_chart
from api.reports.labels import LABELS, Language
from api.reports.model import LONG_GAP_FACTOR, Report

MEDIA_TYPE = "application/pdf"
FONT, FONT_BOLD = "Vera", "VeraBd"
_MARGIN = 16 * mm
_FRAME_PADDING = 6  # points, each side: platypus frames' default
_WIDTH = A4[0] - 2 * _MARGIN - 2 * _FRAME_PADDING
_HEAD = colors.HexColor("#e9eef5")


@cache
def _fonts() -> None:
    # Bitstream Vera ships with reportlab: embedded, so accents and ° show in any viewer.
    pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, "VeraBd.ttf"))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=8.5, leading=11)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=9),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7, leading=8.5),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=15, leading=19),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8,
            spaceAfter=4, textColor=colors.HexColor("#1f3a5f"),
        ),
    }  # fmt: skip


def _time(value: datetime | None, empty: str = "") -> str:
    return empty if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def render(report: Report, language: Language) -> bytes:
    """The PDF's bytes."""
    _fonts()
    t = LABELS[language]
    s = _styles()
    out = io.BytesIO()
    h = report.header

    def para(text: object, style: str = "cell") -> Paragraph:
        return Paragraph(escape("" if text is None else str(text)), s[style])

    def table(head: Sequence[str], rows: list[list[Any]], widths: Sequence[float]) -> Table:
        data = [[para(c) for c in head]] + [[para(c) for c in row] for row in rows]
        scale = _WIDTH / sum(widths)
        result = Table(data, colWidths=[w * scale for w in widths], repeatRows=1)
        result.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), _HEAD),
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b8c2cc")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                ]
            )
        )
        return result

    def section(title: str, body: list[Any], empty: str) -> list[Any]:
        return [Paragraph(escape(title), s["h2"]), *(body or [para(empty, "base")])]

    band = h.band
    band_text = t["no_band"]
    if band is not None:
        low = "—" if band.low_c is None else f"{band.low_c:g} °C"
        high = "—" if band.high_c is None else f"{band.high_c:g} °C"
        band_text = f"{low} … {high}"
    profile = h.profile or "—"
    if h.profile_revision is not None:
        profile += f" @{h.profile_revision}"
    if h.profile_title:
        profile += f" ({h.profile_title})"
    facts = [
        (t["tracking_number"], h.tracking_number),
        (t["profile"], profile),
        (t["band"], band_text),
        (t["condition"], t[f"condition_{h.condition}"]),
        (t["origin"], h.origin or "—"),
        (t["destination"], h.destination or "—"),
        (t["promised_at"], _time(h.promised_at, "—")),
        (t["created_at"], _time(h.created_at)),
        (t["parcels"], ", ".join(p.parcel_id for p in report.parcels) or "—"),
        (t["readings_total"], str(report.readings)),
        (t["generated_at"], _time(report.generated_at)),
    ]
    header = Table(
        [[para(k, "base"), para(v, "base")] for k, v in facts],
        colWidths=[42 * mm, _WIDTH - 42 * mm],
    )
    header.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (0, -1), FONT_BOLD),
                ("TOPPADDING", (0, 0), (-1, -1), 0.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    story: list[Any] = [Paragraph(escape(t["title"]), s["title"]), Spacer(1, 3 * mm), header]

    charts: list[Any] = []
    for parcel in report.parcels:
        series = report.charts.get(parcel.parcel_id)
        title = f"{t['parcel']} {parcel.parcel_id}"
        if series is None or not series.buckets or report.chart_range is None:
            charts.append(para(f"{title}: {t['no_readings']}", "base"))
            continue
        marked = [
            e
            for e in report.excursions
            if e.subject_kind == "parcel" and e.subject_id == parcel.parcel_id
        ]
        charts.append(
            temperature_chart(
                series, report.chart_range, band, marked,
                width=_WIDTH, height=62 * mm, font=FONT, title=title,
            )
        )  # fmt: skip
    charts.append(para(t["chart_legend"], "small"))
    story += section(t["chart"], charts, t["no_readings"])

    stats = [
        [
            p.parcel_id, p.readings, _num(p.min_c), _num(p.max_c), _num(p.mean_c),
            _num(p.mkt_c), f"{_duration(p.out_of_band_s)} ({p.out_of_band_readings})",
            _duration(p.unobserved_s),
        ]
        for p in report.parcels
    ]  # fmt: skip
    story += section(
        t["statistics"],
        [
            table(
                [t[k] for k in ("parcel", "readings", "min", "max", "mean", "mkt")]
                + [t["out_of_band"], t["unobserved"]],
                stats,
                [22, 12, 10, 10, 10, 10, 20, 14],
            ),
            para(t["stats_note"], "small"),
        ]
        if stats
        else [],
        t["no_readings"],
    )

    excursions = [
        [
            f"{e.subject_kind} {e.subject_id}", e.rule, e.kind, e.severity,
            _time(e.started_at), _time(e.ended_at, t["open"]), _duration(e.duration_s),
            _num(e.peak),
        ]
        for e in report.excursions
    ]  # fmt: skip
    story += section(
        t["excursions"],
        [
            table(
                [t[k] for k in ("subject", "rule", "kind", "severity", "started", "ended")]
                + [t["duration"], t["peak"]],
                excursions,
                [15, 16, 11, 9, 19, 19, 14, 7],
            )
        ]
        if excursions
        else [],
        t["no_excursions"],
    )

    devices = [
        [
            d.device_id, d.seq_source, d.readings, d.missing_seq, d.seq_resets,
            _duration(d.median_interval_s), f"{d.long_gaps} ({_duration(d.long_gap_s)})",
            _duration(d.longest_gap_s), f"{_num(d.percent_complete, 1)} %",
        ]
        for d in report.devices
    ]  # fmt: skip
    story += section(
        t["completeness"],
        [
            table(
                [
                    *(t["device"], "seq", t["readings"], t["missing_seq"], t["resets"]),
                    *(t["median_interval"], t["long_gaps"].format(factor=LONG_GAP_FACTOR)),
                    *(t["longest_gap"], t["complete"]),
                ],
                devices,
                [18, 9, 10, 11, 9, 13, 16, 13, 11],
            )
        ]
        if devices
        else [],
        t["no_devices"],
    )

    calibrations = [
        [
            c.device_id, c.quantity, f"{c.slope:.5g}", f"{c.offset:+.4g}", c.certificate or "",
            c.readings, _time(c.first_at), _time(c.last_at),
        ]
        for c in report.calibrations
    ]  # fmt: skip
    story += section(
        t["calibration"],
        [
            para(t["calibration_note"], "small"),
            table(
                [
                    *(t["device"], t["quantity"], t["slope"], t["offset"], t["certificate"]),
                    *(t["readings"], t["from"], t["to"]),
                ],
                calibrations,
                [18, 12, 9, 9, 16, 9, 14, 14],
            ),
        ]
        if calibrations
        else [],
        t["no_calibration"],
    )

    custody = [
        [
            c.parcel_id, c.vehicle_id or "", c.compartment or "", c.device_id or "",
            c.gateway_id or "", _time(c.from_time), _time(c.to_time, t["open"]),
        ]
        for c in report.custody
    ]  # fmt: skip
    story += section(
        t["custody"],
        [
            table(
                [t[k] for k in ("parcel", "vehicle", "compartment", "device", "gateway")]
                + [t["from"], t["to"]],
                custody,
                [12, 12, 16, 12, 12, 21, 21],
            )
        ]
        if custody
        else [],
        t["no_custody"],
    )

    story += section(t["route"], _route(report, t, table), t["no_route"])

    checkpoints = [
        [_time(c.time), c.status, c.sub_status or "", c.location or "", c.message or ""]
        for c in report.checkpoints
    ]
    story += section(
        t["checkpoints"],
        [
            table(
                [t[k] for k in ("time", "status", "sub_status", "location", "message")],
                checkpoints,
                [22, 14, 16, 20, 28],
            )
        ]
        if checkpoints
        else [],
        t["no_checkpoints"],
    )
    story += section(t["proof_of_delivery"], _proof_of_delivery(report, t, para), t["no_proof"])

    cases: list[Any] = []
    for x in report.exceptions:
        verdict = (
            t["audit_intact"].format(entries=len(x.audit))
            if x.chain_broken_at is None
            else t["audit_broken"].format(seq=x.chain_broken_at)
        )
        summary = (
            f"#{x.exception_id} {x.title} · {x.kind} · {x.severity} · {t['state']}: {x.state}"
            f" · {t['resolution']}: {x.resolution or '—'} · {t['assignee']}: {x.assignee or '—'}"
            f" · {t['opened']}: {_time(x.opened_at)} · {t['resolved']}: {_time(x.resolved_at, '—')}"
            f" · {verdict}"
        )
        steps = [[a.seq, _time(a.at), a.actor, a.action, a.reason or ""] for a in x.audit]
        block: list[Any] = [para(summary, "base")]
        if steps:
            block.append(
                table(
                    ["seq", t["time"], t["actor"], t["action"], t["reason"]],
                    steps,
                    [6, 24, 16, 18, 36],
                )
            )
        cases.append(KeepTogether([*block, Spacer(1, 2 * mm)]))
    story += section(t["exceptions"], cases, t["no_exceptions"])
    story += [Spacer(1, 4 * mm), para(t["hash_note"], "small")]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 6.5)
        canvas.setFillColor(colors.HexColor("#444444"))
        canvas.drawString(
            _MARGIN + _FRAME_PADDING,
            9 * mm,
            t["footer"].format(
                tracking=h.tracking_number, sha=report.content_sha256, page=doc.page
            ),
        )
        canvas.restoreState()

    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN + 4 * mm,
        title=f"{t['title']} {h.tracking_number}",
        author="coldtrail",
        subject=f"content SHA-256 {report.content_sha256}",
        lang=language,
    )
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


def _route(report: Report, t: dict[str, str], table: Any) -> list[Any]:
    if not report.routes:
        return []
    rows = [
        [
            r.vehicle_id or "", r.gateway_id, r.fixes, f"{r.distance_km:.1f} km",
            f"{_time(r.first.time)} ({r.first.lat:.5f}, {r.first.lon:.5f})",
            f"{_time(r.last.time)} ({r.last.lat:.5f}, {r.last.lon:.5f})",
            len(r.stops),
        ]
        for r in report.routes
    ]  # fmt: skip
    out = [
        table(
            [t[k] for k in ("vehicle", "gateway", "fixes", "distance")]
            + [t["first_position"], t["last_position"], t["stops"]],
            rows,
            [12, 12, 8, 11, 27, 27, 7],
        )
    ]
    stops = [
        [
            r.vehicle_id or r.gateway_id, _time(s.started_at), _time(s.ended_at, t["open"]),
            _duration(s.duration_s), f"{s.lat:.5f}, {s.lon:.5f}", s.fixes,
        ]
        for r in report.routes
        for s in r.stops
    ]  # fmt: skip
    if stops:
        out.append(Spacer(1, 2 * mm))
        out.append(
            table(
                [t["vehicle"], t["started"], t["ended"], t["duration"], t["location"], t["fixes"]],
                stops,
                [14, 22, 22, 14, 20, 8],
            )
        )
    return out


def _proof_of_delivery(report: Report, t: dict[str, str], para: Any) -> list[Any]:
    """One line per checkpoint that carries proof of delivery: when, where, who received it,
    the name signed and the photo's address."""
    lines = []
    for c in report.checkpoints:
        if c.received_by is None and c.signature_name is None and c.photo_url is None:
            continue
        parts = [f"{c.status} {_time(c.time)}"]
        if c.location:
            parts.append(c.location)
        for key, value in (
            ("received_by", c.received_by),
            ("signature_name", c.signature_name),
            ("photo", c.photo_url),
        ):
            if value is not None:
                parts.append(f"{t[key]}: {value}")
        lines.append(para(" · ".join(parts), "base"))
    return lines
