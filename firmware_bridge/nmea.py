"""NMEA 0183 from a GNSS receiver's serial port: bytes in, one position fix per epoch out.

:class:`NmeaStream` reassembles lines across serial chunks, parses each with
``pynmea2.parse(line, check=True)`` and merges the sentences of one reporting cycle into one
:class:`~firmware_bridge.frames.FixSample`, the way gpsd's NMEA 0183 driver
(``driver_nmea0183.c``) does:

* Any talker: the sentence type decides, not the talker id (``GP``, ``GN``, ``GL``, ``GA``,
  ``GB``/``BD``, ``QZ``, ``GI``, and ``IN`` from an integrated navigation system alike).
* RMC: position, date, speed (knots -> km/h), course; GGA / GNS: position, fix quality,
  satellites, HDOP, altitude; GLL: position; VTG: speed and course; ZDA: the date.
* A cycle is the sentences whose UTC time of day agrees within 10 ms (gpsd's tolerance; a
  Seapath sends ZDA at .17 and GGA/RMC at .16). Sentences without a time (VTG) join the open
  cycle. When several sentences of a cycle disagree, the later one wins, field by field, as in
  gpsd (each sentence overwrites the fix being built); the fix's time is that of the last
  timestamped sentence. A fix quality from GGA/GNS beats one derived from an RMC/GLL mode.
* A cycle is emitted when a sentence of another cycle arrives, on :meth:`NmeaStream.flush`,
  or, once learned, at its end-of-cycle sentence: like gpsd, the stream remembers which
  sentence type was the last timestamped one before the time last changed, and emits as soon
  as that type arrives (one fix per cycle; gpsd reports again on each later sentence). Later
  sentences of an emitted cycle are ignored.
* A cycle without a date of its own (no RMC, no ZDA: GGA or GLL only) takes the date of the
  last emitted fix, one day later if its time of day is more than 12 h before that fix's.
* GPS week rollover, as gpsd's ``gpsd_utc_resolve``: a receiver with the 1024-week bug
  reports dates 19.6 years late. When the gateway's clock (the chunk's ``received_at``) is at
  or after 2017-01-01 (gpsd: leap seconds known to be >= 18) and the receiver's date is
  before 2017-01-01, 1024 weeks are added. Counted in :attr:`NmeaStream.rollovers`.

What is not a fix is counted in :attr:`NmeaStream.skipped` by reason: ``void-rmc`` (status V
or mode N), ``void-gll`` (status V or mode N), ``no-fix-gga`` (quality 0), ``no-fix-gns`` (all
modes N), ``no-date`` (no date known for the cycle), ``unknown-sentence`` (a sentence type
pynmea2 does not know). A cycle that any of its sentences calls void gives no fix.

Bad bytes are rejects (:class:`~coldtrail.errors.DecodeError` with the raw bytes): bad or
missing checksum, unparsable sentence, malformed field (time, position, number), bytes before
a ``$`` on a line, non-ASCII lines, 4 KiB without an end of line, a fix outside the contract.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pynmea2

from coldtrail.errors import DecodeError
from coldtrail.schema import Fix
from firmware_bridge.frames import FixSample, SerialChunk

MAX_LINE_BYTES = 4096
KMH_PER_KNOT = 1.852
CYCLE_TOLERANCE_S = 0.01
"""gpsd's end-of-cycle detector: a time of day that moves by more than this starts a cycle."""
GPS_WEEK_ROLLOVER = dt.timedelta(weeks=1024)
ROLLOVER_PIVOT = dt.date(2017, 1, 1)
"""gpsd's pivot: the leap second of 2017-01-01 (18 s) is known, so an NMEA date before it
from a receiver read after it is a 1024-week rollover."""

# Mode indicator (RMC, GNS, VTG) -> GGA fix quality; "N" is no fix.
_MODE_QUALITY = {"A": 1, "D": 2, "P": 3, "R": 4, "F": 5, "E": 6, "M": 7, "S": 8}
_QUALITY_MODE = {quality: mode for mode, quality in _MODE_QUALITY.items()} | {0: "N"}


@dataclass(slots=True)
class NmeaResult:
    """What one :meth:`NmeaStream.feed` produced."""

    fixes: list[FixSample] = field(default_factory=list)
    rejects: list[DecodeError] = field(default_factory=list)


class _BadField(ValueError):
    """A sentence with a valid checksum but a field we cannot use."""


@dataclass(slots=True)
class _Part:
    """What one sentence says about its epoch."""

    kind: str
    time: dt.time | None = None
    date: dt.date | None = None
    no_fix: str | None = None
    values: dict[str, float | int] = field(default_factory=dict)
    fallback: dict[str, float | int] = field(default_factory=dict)
    line: bytes = b""


@dataclass(slots=True)
class _Epoch:
    time: dt.time
    received_at: dt.datetime
    parts: list[_Part] = field(default_factory=list)


class NmeaStream:
    """The NMEA decoder of one receiver: feed it serial chunks in order."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.skipped: collections.Counter[str] = collections.Counter()
        self._buffer = b""
        self._epoch: _Epoch | None = None
        self._closed: dt.time | None = None
        self._date_ref: tuple[dt.date, dt.time] | None = None
        self._ender: str | None = None
        self._last: tuple[dt.time, str] | None = None
        self.rollovers = 0
        """Fixes whose date was moved 1024 weeks forward (GPS week rollover)."""

    def feed(self, chunk: SerialChunk) -> NmeaResult:
        result = NmeaResult()
        *lines, self._buffer = (self._buffer + chunk.data).split(b"\n")
        for line in lines:
            self._line(line, chunk.received_at, result)
        if len(self._buffer) > MAX_LINE_BYTES:
            self._reject(result, f"no end of line after {MAX_LINE_BYTES} bytes", self._buffer)
            self._buffer = b""
        return result

    def flush(self, received_at: dt.datetime) -> NmeaResult:
        """End of input (port closed, file read): decode a last unterminated line and emit
        the open epoch."""
        result = NmeaResult()
        buffer, self._buffer = self._buffer, b""
        self._line(buffer, received_at, result)
        if self._epoch is not None:
            self._close(result)
        return result

    def _reject(self, result: NmeaResult, reason: str, raw: bytes) -> None:
        result.rejects.append(DecodeError(reason, raw, device=self.device_id))

    def _line(self, line: bytes, received_at: dt.datetime, result: NmeaResult) -> None:
        line = line.strip()
        if not line:
            return
        start = line.rfind(b"$")
        if start < 0:
            self._reject(result, "not an NMEA sentence (no '$')", line)
            return
        if start > 0:
            self._reject(result, "bytes before an NMEA sentence", line[:start])
            line = line[start:]
        try:
            sentence = pynmea2.parse(line.decode("ascii"), check=True)
        except UnicodeDecodeError:
            self._reject(result, "not ASCII", line)
            return
        except pynmea2.SentenceTypeError:
            self.skipped["unknown-sentence"] += 1
            return
        except pynmea2.ChecksumError as exc:
            self._reject(result, f"bad checksum: {_reason(exc)}", line)
            return
        except (ValueError, IndexError) as exc:  # ParseError is a ValueError
            self._reject(result, f"unparsable sentence: {_reason(exc)}", line)
            return
        if not isinstance(sentence, pynmea2.TalkerSentence):
            return  # proprietary and query sentences carry nothing we use
        extract = _EXTRACTORS.get(sentence.sentence_type)
        if extract is None:
            return  # GSA, GSV, GLL, GST, ...: known, not needed
        try:
            part = extract(sentence)
        except _BadField as exc:
            self._reject(result, f"{sentence.sentence_type}: {exc}", line)
            return
        part.line = line
        self._merge(part, received_at, result)

    def _merge(self, part: _Part, received_at: dt.datetime, out: NmeaResult) -> None:
        if part.no_fix:
            self.skipped[part.no_fix] += 1
        timestamped = part.time is not None
        if part.time is not None:  # gpsd: the sentence before the time moves ends cycles
            if self._last is not None and not _same_cycle(part.time, self._last[0]):
                self._ender = self._last[1]
            self._last = (part.time, part.kind)
        if part.kind == "vtg" and self._epoch is not None:
            part.time = self._epoch.time  # VTG has no time: it belongs to the open cycle
        if part.time is None or _same_cycle(part.time, self._closed):
            return
        if self._epoch is not None and not _same_cycle(part.time, self._epoch.time):
            self._close(out)
        if self._epoch is None:
            self._epoch = _Epoch(time=part.time, received_at=received_at)
        self._epoch.parts.append(part)
        self._epoch.received_at = received_at
        if timestamped:
            self._epoch.time = part.time
        if timestamped and part.kind == self._ender:
            self._close(out)

    def _close(self, out: NmeaResult) -> None:
        epoch, self._epoch = self._epoch, None
        assert epoch is not None
        self._closed = epoch.time
        if any(part.no_fix for part in epoch.parts):
            return
        merged: dict[str, float | int] = {}  # as gpsd: a later sentence overwrites
        for part in epoch.parts:
            merged |= part.fallback
        for part in epoch.parts:
            merged |= part.values
        if "lat" not in merged:
            return  # only ZDA / VTG
        dates = [p.date for p in epoch.parts if p.date]
        date = dates[-1] if dates else self._date_for(epoch.time)
        if date is None:
            self.skipped["no-date"] += 1
            return
        if date < ROLLOVER_PIVOT and epoch.received_at.date() >= ROLLOVER_PIVOT:
            date += GPS_WEEK_ROLLOVER  # gpsd_utc_resolve: the receiver's week counter wrapped
            self.rollovers += 1
        try:
            fix = msgspec.convert(merged, Fix)
        except msgspec.ValidationError as exc:
            raw = b"\r\n".join(part.line for part in epoch.parts)
            self._reject(out, f"fix outside the telemetry contract: {exc}", raw)
            return
        self._date_ref = (date, epoch.time)
        measured_at = dt.datetime.combine(date, epoch.time)
        out.fixes.append(FixSample(self.device_id, fix, epoch.received_at, measured_at))

    def _date_for(self, time: dt.time) -> dt.date | None:
        if self._date_ref is None:
            return None
        date, ref_time = self._date_ref
        if _seconds(time) + 12 * 3600 < _seconds(ref_time):
            return date + dt.timedelta(days=1)
        return date


def _reason(exc: Exception) -> str:
    """pynmea2's errors carry ``(message, data)`` as their argument."""
    arg = exc.args[0] if exc.args else exc
    return str(arg[0] if isinstance(arg, tuple) and arg else arg)


def _seconds(time: dt.time) -> float:
    return time.hour * 3600 + time.minute * 60 + time.second + time.microsecond / 1e6


def _same_cycle(time: dt.time, other: dt.time | None) -> bool:
    if other is None:
        return False
    delta = abs(_seconds(time) - _seconds(other))
    return min(delta, 86400 - delta) <= CYCLE_TOLERANCE_S + 1e-9


def _time(sentence: Any) -> dt.time:
    index = sentence.name_to_idx["timestamp"]
    raw: str = sentence.data[index] if len(sentence.data) > index else ""
    value = sentence.timestamp
    if not isinstance(value, dt.time):
        raise _BadField(f"time {raw!r}")
    fraction = raw[6:]  # pynmea2 truncates: int(0.57 * 1e6) == 569999
    micro = min(round(float(fraction) * 1e6), 999_999) if fraction else 0
    return value.replace(microsecond=micro)


def _time_or_none(sentence: Any) -> dt.time | None:
    try:
        return _time(sentence)
    except _BadField:
        return None


def _number(sentence: Any, name: str, convert: Callable[[Any], float | int]) -> Any:
    """A numeric field: pynmea2 converts some, leaves others as text, returns text it failed on."""
    value = getattr(sentence, name)
    if value is None or value == "":
        return None
    try:
        return convert(value)
    except (ValueError, TypeError, ArithmeticError):
        raise _BadField(f"{name} {value!r}") from None


def _position(sentence: Any) -> dict[str, float | int]:
    raw_lat, raw_lon = sentence.lat, sentence.lon
    if sentence.lat_dir not in ("N", "S") or sentence.lon_dir not in ("E", "W"):
        raise _BadField(
            f"position {raw_lat!r},{sentence.lat_dir!r},{raw_lon!r},{sentence.lon_dir!r}"
        )
    try:
        lat, lon = sentence.latitude, sentence.longitude
    except ValueError as exc:
        raise _BadField(str(exc)) from None
    for raw in (raw_lat, raw_lon):
        dot = raw.find(".")
        if dot < 2 or float(raw[dot - 2 :]) >= 60:
            raise _BadField(f"coordinate {raw!r} is not DDDMM.MMMM")
    return {"lat": lat, "lon": lon}


def _present(**values: float | int | None) -> dict[str, float | int]:
    return {key: value for key, value in values.items() if value is not None}


# Fix field -> (pynmea2 attribute, conversion)
_Numbers = dict[str, tuple[str, Callable[[Any], float | int]]]
_GGA_NUMBERS: _Numbers = {
    "satellites": ("num_sats", int),
    "hdop": ("horizontal_dil", float),
    "altitude_m": ("altitude", float),
}
_GNS_NUMBERS: _Numbers = {
    "satellites": ("num_sats", int),
    "hdop": ("hdop", float),
    "altitude_m": ("altitude", float),
}


def _numbers(sentence: Any, table: _Numbers) -> dict[str, float | int]:
    return _present(**{key: _number(sentence, name, conv) for key, (name, conv) in table.items()})


def _rmc(s: Any) -> _Part:
    mode = s.mode_indicator or None
    if s.status != "A" or mode == "N":
        return _Part("rmc", time=_time_or_none(s), no_fix="void-rmc")
    date = s.datestamp
    if date is not None and not isinstance(date, dt.date):
        raise _BadField(f"date {date!r}")
    speed = _number(s, "spd_over_grnd", float)
    course = _number(s, "true_course", float)
    values = _position(s) | _present(
        speed_kmh=None if speed is None else speed * KMH_PER_KNOT,
        heading_deg=None if course is None else course % 360,
    )
    fallback = _present(fix_quality=_MODE_QUALITY.get(mode or ""))
    return _Part("rmc", time=_time(s), date=date, values=values, fallback=fallback)


def _gga(s: Any) -> _Part:
    quality = _number(s, "gps_qual", int)
    if not quality:
        return _Part("gga", time=_time_or_none(s), no_fix="no-fix-gga")
    values = _position(s) | {"fix_quality": quality} | _numbers(s, _GGA_NUMBERS)
    return _Part("gga", time=_time(s), values=values)


def _gns(s: Any) -> _Part:
    modes = [mode for mode in (s.mode_indicator or "") if mode != "N"]
    if not modes:
        return _Part("gns", time=_time_or_none(s), no_fix="no-fix-gns")
    quality = _present(fix_quality=_MODE_QUALITY.get(modes[0]))
    values = _position(s) | quality | _numbers(s, _GNS_NUMBERS)
    return _Part("gns", time=_time(s), values=values)


def _gll(s: Any) -> _Part:
    mode = s.faa_mode or None
    if s.status != "A" or mode == "N":
        return _Part("gll", time=_time_or_none(s), no_fix="void-gll")
    fallback = _present(fix_quality=_MODE_QUALITY.get(mode or ""))
    return _Part("gll", time=_time(s), values=_position(s), fallback=fallback)


def _vtg(s: Any) -> _Part:
    if s.faa_mode == "N":
        return _Part("vtg")
    course = _number(s, "true_track", float)
    fallback = _present(
        speed_kmh=_number(s, "spd_over_grnd_kmph", float),
        heading_deg=None if course is None else course % 360,
    )
    return _Part("vtg", fallback=fallback)


def _zda(s: Any) -> _Part:
    if s.timestamp is None or s.year is None:
        return _Part("zda")  # receivers send an empty ZDA until they know the time
    try:
        date = dt.date(s.year, s.month, s.day)
    except (TypeError, ValueError):
        raise _BadField(f"date {s.year!r}-{s.month!r}-{s.day!r}") from None
    return _Part("zda", time=_time(s), date=date)


_EXTRACTORS: dict[str, Callable[[Any], _Part]] = {
    "RMC": _rmc,
    "GGA": _gga,
    "GNS": _gns,
    "GLL": _gll,
    "VTG": _vtg,
    "ZDA": _zda,
}


def _dm(value: float, width: int, positive: str, negative: str) -> tuple[str, str]:
    micro_minutes = round(abs(value) * 60_000_000)
    degrees, rest = divmod(micro_minutes, 60_000_000)
    minutes, fraction = divmod(rest, 1_000_000)
    return f"{degrees:0{width}d}{minutes:02d}.{fraction:06d}", positive if value >= 0 else negative


def _text(value: float | int | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def encode_fix(fix: Fix, at: dt.datetime, talker: str = "GP") -> bytes:
    """RMC + GGA sentences (checksums, CRLF) for ``fix`` at ``at``, as a receiver sends them.

    ``at`` must be aware; it is sent in UTC to the millisecond (years 2000-2068 survive
    RMC's two-digit year). A ``fix_quality`` of 0 is sent as a void RMC and a no-fix GGA.
    """
    if at.tzinfo is None:
        raise ValueError("encode_fix needs an aware datetime (NMEA times are UTC)")
    at = at.astimezone(dt.UTC)
    time = at.strftime("%H%M%S") + f".{at.microsecond // 1000:03d}"
    lat, lat_dir = _dm(fix.lat, 2, "N", "S")
    lon, lon_dir = _dm(fix.lon, 3, "E", "W")
    quality = 1 if fix.fix_quality is None else fix.fix_quality
    knots = None if fix.speed_kmh is None else fix.speed_kmh / KMH_PER_KNOT
    status, mode = "A" if quality else "V", _QUALITY_MODE.get(quality, "A")
    course, date = _text(fix.heading_deg, ".2f"), at.strftime("%d%m%y")
    rmc_fields = [time, status, lat, lat_dir, lon, lon_dir, _text(knots, ".4f"), course, date]
    rmc = pynmea2.RMC(talker, "RMC", [*rmc_fields, "", "", mode])
    sats, hdop = _text(fix.satellites, "02d"), _text(fix.hdop, ".2f")
    altitude = _text(fix.altitude_m, ".2f")
    gga_fields = [time, lat, lat_dir, lon, lon_dir, str(quality), sats, hdop, altitude, "M"]
    gga = pynmea2.GGA(talker, "GGA", [*gga_fields, "", "M", "", ""])
    text: str = rmc.render(newline=True) + gga.render(newline=True)
    return text.encode("ascii")
