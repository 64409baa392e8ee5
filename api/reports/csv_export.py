"""The report as CSV, which is also the canonical serialisation that the content hash covers.

Line 1 is ``# content_sha256,<hex>,generated_at,<time>``. Every line after it is the report's
data, written the same way whoever asks (fixed order, times in UTC ISO 8601 with microseconds
and a ``Z``, statistics to 3 decimals, readings as stored): the content hash is the SHA-256 of
those bytes, so ``tail -n +2 report.csv | sha256sum`` verifies a downloaded file, and the PDF
prints the hash of the very same bytes.

After line 1 come the summary sections, one ``# <section>,...`` line per row, each section
introduced by ``# columns,<section>,<column names>``; then one header line and one row per
reading: ``time,parcel_id,device_id,seq,temperature_c,humidity_pct,in_band,raw_temperature_c,
raw_humidity_pct`` (the raw values are those of a calibrated reading, before its calibration,
which the ``calibration`` section names; empty for a reading that was not calibrated). Text that a
spreadsheet would take for a formula is written with a leading apostrophe (:func:`cell`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from api.reports.model import Band, Report

SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024
"""The readings section stays in memory up to this size, then goes to a temporary file."""
CHUNK_CHARS = 64 * 1024
READING_COLUMNS = (
    "time",
    "parcel_id",
    "device_id",
    "seq",
    "temperature_c",
    "humidity_pct",
    "in_band",
    "raw_temperature_c",
    "raw_humidity_pct",
)
MEDIA_TYPE = "text/csv; charset=utf-8"


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not UTC:  # the API's connections are set to UTC: rarely taken
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # isoformat: 3x strftime's speed


def fmt_num(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def fmt_text(value: object) -> str:
    return "" if value is None else str(value)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs: text starting like a formula (a carrier's
    message, an exception title, a device id) gets a leading apostrophe (OWASP's advice
    against CSV injection). Numbers, negative ones included, are kept as they are."""
    if value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def first_line(report: Report) -> str:
    """The one line the hash does not cover: the hash itself and when the file was made."""
    out = io.StringIO()
    csv.writer(out).writerow(
        ["# content_sha256", report.content_sha256, "generated_at", fmt_time(report.generated_at)]
    )
    return out.getvalue()


def summary(report: Report) -> str:
    """The summary sections (hashed, before the readings). ``report.content_sha256`` and
    ``report.generated_at`` are not read."""
    out = io.StringIO()
    w = csv.writer(out)

    def section(name: str, columns: Sequence[str], rows: list[list[str]]) -> None:
        w.writerow(["# columns", name, *columns])
        w.writerows([f"# {name}", *map(cell, row)] for row in rows)

    h = report.header
    band = h.band
    section(
        "shipment",
        _columns(
            "tracking_number profile profile_revision condition band_low_c band_high_c origin "
            "destination promised_at created_at language"
        ),
        [
            [
                h.tracking_number,
                fmt_text(h.profile),
                "" if h.profile_revision is None else str(h.profile_revision),
                h.condition,
                fmt_num(band.low_c if band else None),
                fmt_num(band.high_c if band else None),
                fmt_text(h.origin),
                fmt_text(h.destination),
                fmt_time(h.promised_at),
                fmt_time(h.created_at),
                h.language,
            ]
        ],
    )
    section(
        "parcel",
        _columns(
            "parcel_id description readings temperatures first_at last_at min_c max_c mean_c "
            "mkt_c out_of_band_readings out_of_band_s unobserved_s"
        ),
        [
            [
                p.parcel_id,
                fmt_text(p.description),
                str(p.readings),
                str(p.temperatures),
                fmt_time(p.first_at),
                fmt_time(p.last_at),
                fmt_num(p.min_c),
                fmt_num(p.max_c),
                fmt_num(p.mean_c),
                fmt_num(p.mkt_c),
                str(p.out_of_band_readings),
                fmt_num(p.out_of_band_s),
                fmt_num(p.unobserved_s),
            ]
            for p in report.parcels
        ],
    )
    section(
        "custody",
        _columns("parcel_id vehicle_id compartment device_id gateway_id from_time to_time"),
        [
            [
                c.parcel_id,
                fmt_text(c.vehicle_id),
                fmt_text(c.compartment),
                fmt_text(c.device_id),
                fmt_text(c.gateway_id),
                fmt_time(c.from_time),
                fmt_time(c.to_time),
            ]
            for c in report.custody
        ],
    )
    section(
        "device",
        _columns(
            "device_id seq_source readings first_at last_at missing_seq seq_resets "
            "median_interval_s long_gaps long_gap_s longest_gap_s percent_complete"
        ),
        [
            [
                d.device_id,
                d.seq_source,
                str(d.readings),
                fmt_time(d.first_at),
                fmt_time(d.last_at),
                str(d.missing_seq),
                str(d.seq_resets),
                fmt_num(d.median_interval_s),
                str(d.long_gaps),
                fmt_num(d.long_gap_s),
                fmt_num(d.longest_gap_s),
                fmt_num(d.percent_complete),
            ]
            for d in report.devices
        ],
    )
    section(
        "excursion",
        _columns(
            "subject_kind subject_id rule kind severity state started_at ended_at duration_s "
            "peak limit"
        ),
        [
            [
                e.subject_kind,
                e.subject_id,
                e.rule,
                e.kind,
                e.severity,
                e.state,
                fmt_time(e.started_at),
                fmt_time(e.ended_at),
                fmt_num(e.duration_s),
                fmt_num(e.peak),
                fmt_num(e.limit_value),
            ]
            for e in report.excursions
        ],
    )
    section(
        "route",
        _columns(
            "vehicle_id gateway_id fixes distance_km first_time first_lat first_lon last_time "
            "last_lat last_lon stops"
        ),
        [
            [
                fmt_text(r.vehicle_id),
                r.gateway_id,
                str(r.fixes),
                fmt_num(r.distance_km),
                fmt_time(r.first.time),
                fmt_num(r.first.lat, 6),
                fmt_num(r.first.lon, 6),
                fmt_time(r.last.time),
                fmt_num(r.last.lat, 6),
                fmt_num(r.last.lon, 6),
                str(len(r.stops)),
            ]
            for r in report.routes
        ],
    )
    section(
        "stop",
        _columns("gateway_id device_id started_at ended_at duration_s lat lon fixes"),
        [
            [
                r.gateway_id,
                s.device_id,
                fmt_time(s.started_at),
                fmt_time(s.ended_at),
                fmt_num(s.duration_s),
                fmt_num(s.lat, 6),
                fmt_num(s.lon, 6),
                str(s.fixes),
            ]
            for r in report.routes
            for s in r.stops
        ],
    )
    section(
        "checkpoint",
        _columns("time status sub_status location message received_by signature_name photo_url"),
        [
            [
                fmt_time(c.time),
                c.status,
                fmt_text(c.sub_status),
                fmt_text(c.location),
                fmt_text(c.message),
                fmt_text(c.received_by),
                fmt_text(c.signature_name),
                fmt_text(c.photo_url),
            ]
            for c in report.checkpoints
        ],
    )
    section(
        "exception",
        _columns(
            "exception_id kind severity title state resolution assignee opened_at resolved_at "
            "audit_entries audit_chain"
        ),
        [
            [
                str(x.exception_id),
                x.kind,
                x.severity,
                x.title,
                x.state,
                fmt_text(x.resolution),
                fmt_text(x.assignee),
                fmt_time(x.opened_at),
                fmt_time(x.resolved_at),
                str(len(x.audit)),
                chain_verdict(x.chain_broken_at),
            ]
            for x in report.exceptions
        ],
    )
    section(
        "audit",
        _columns("exception_id seq at actor action reason"),
        [
            [str(x.exception_id), str(a.seq), fmt_time(a.at), a.actor, a.action, fmt_text(a.reason)]
            for x in report.exceptions
            for a in x.audit
        ],
    )
    section(
        "calibration",
        _columns("device_id quantity slope offset certificate readings first_at last_at"),
        [
            [
                c.device_id,
                c.quantity,
                repr(c.slope),
                repr(c.offset),
                fmt_text(c.certificate),
                str(c.readings),
                fmt_time(c.first_at),
                fmt_time(c.last_at),
            ]
            for c in report.calibrations
        ],
    )
    w.writerow(READING_COLUMNS)
    return out.getvalue()


def _columns(names: str) -> list[str]:
    return names.split()


def chain_verdict(broken_at: int | None) -> str:
    return "intact" if broken_at is None else f"BROKEN at seq {broken_at}"


class ReadingsSection:
    """The readings' CSV rows, written once while the report is gathered and kept (in memory,
    or a temporary file past :data:`SPOOL_IN_MEMORY_BYTES`) for the hash and the response."""

    def __init__(self, band: Band | None) -> None:
        self._file: Any = tempfile.SpooledTemporaryFile(
            max_size=SPOOL_IN_MEMORY_BYTES, mode="w+", encoding="utf-8", newline=""
        )
        self._writer = csv.writer(self._file)
        self._band = band

    def write(
        self,
        time: datetime,
        parcel_id: str,
        device_id: str,
        seq: int,
        temperature_c: float | None,
        humidity_pct: float | None,
        raw_temperature_c: float | None = None,
        raw_humidity_pct: float | None = None,
    ) -> None:
        in_band = ""
        if temperature_c is not None and self._band is not None:
            in_band = "false" if self._band.breach(temperature_c) else "true"
        self._writer.writerow(
            (
                fmt_time(time),
                cell(parcel_id),
                cell(device_id),
                seq,
                "" if temperature_c is None else repr(temperature_c),
                "" if humidity_pct is None else repr(humidity_pct),
                in_band,
                "" if raw_temperature_c is None else repr(raw_temperature_c),
                "" if raw_humidity_pct is None else repr(raw_humidity_pct),
            )
        )

    def chunks(self) -> Iterator[str]:
        self._file.seek(0)
        while chunk := self._file.read(CHUNK_CHARS):
            yield chunk

    def close(self) -> None:
        self._file.close()


def content_sha256(summary_text: str, readings: ReadingsSection) -> str:
    digest = hashlib.sha256(summary_text.encode("utf-8"))
    for chunk in readings.chunks():
        digest.update(chunk.encode("utf-8"))
    return digest.hexdigest()


def body(report: Report, summary_text: str, readings: ReadingsSection) -> Iterator[bytes]:
    """The whole file, in chunks; closes ``readings`` at the end (or when abandoned)."""
    try:
        yield (first_line(report) + summary_text).encode("utf-8")
        for chunk in readings.chunks():
            yield chunk.encode("utf-8")
    finally:
        readings.close()
