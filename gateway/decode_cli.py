"""``coldtrail decode``: decode device bytes offline, for support work.

* ``coldtrail decode nmea FILE`` — an NMEA 0183 log (``-`` = standard input);
* ``coldtrail decode ble HEX [SCAN_RESPONSE_HEX ...] [--kind K] [--bindkey KEY]`` — raw
  advertisement bytes (AD structures, as btmon prints them), joined with the scan responses
  given after them (Inkbird and Govee models send their name only there);
* ``coldtrail decode board FILE`` — a byte stream of sensor-board frames
  (``docs/serial-protocol.md``).

One JSON object per reading, position or event on stdout, with the contract's field names (a
BLE advert's door or light state is shown as the event the gateway sends when it first sees it,
with ``sensor`` naming which of the device's sensors it is);
each rejected input on stderr with its raw hex; the counts at the end on stderr. Exit status 1
if anything was rejected.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from coldtrail import sensor_kinds
from coldtrail.errors import ConfigError, DecodeError
from firmware_bridge.ble import registry
from firmware_bridge.board.stream import BoardStream
from firmware_bridge.frames import EventSample, FixSample, Sample, SerialChunk, StateSample
from firmware_bridge.nmea import NmeaStream

_json = msgspec.json.Encoder()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="decode device bytes offline (NMEA logs, BLE adverts, board frames)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(title="formats", metavar="FORMAT", required=True)
    nmea = kinds.add_parser("nmea", help="an NMEA 0183 log file ('-' for standard input)")
    nmea.add_argument("file", help="path, or - for standard input")
    nmea.add_argument("--device-id", default="gps", help="device id to report (default gps)")
    nmea.set_defaults(func=_decode_nmea)
    ble = kinds.add_parser("ble", help="raw advertisement bytes in hex (AD structures)")
    ble.add_argument("hex", help="e.g. 0201060c16d2fc40016402ca0903bf13")
    ble.add_argument(
        "scan_responses",
        nargs="*",
        metavar="SCAN_RESPONSE",
        help="the device's scan response(s) in hex, joined with the advert",
    )
    ble.add_argument(
        "--kind",
        default=sensor_kinds.AUTO,
        choices=sensor_kinds.CONFIG_KINDS,
        help="the sensor kind (default: detected from the advert)",
    )
    ble.add_argument(
        "--bindkey", help="32 hex digits, for an encrypted BTHome or Xiaomi MiBeacon sensor"
    )
    ble.add_argument("--address", default="00:00:00:00:00:00", help="the sensor's MAC address")
    ble.set_defaults(func=_decode_ble)
    board = kinds.add_parser("board", help="a byte stream of sensor-board frames ('-' = stdin)")
    board.add_argument("file", help="path, or - for standard input")
    board.set_defaults(func=_decode_board)


class Report:
    """Writes decoded items to stdout and rejects to stderr; counts both."""

    def __init__(self, out: Any = None, err: Any = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.decoded = 0
        self.rejected = 0

    def item(self, obj: dict[str, Any]) -> None:
        self.out.write(_json.encode(obj).decode() + "\n")
        self.decoded += 1

    def samples(self, samples: Iterable[Sample]) -> None:
        for s in samples:
            self.item(
                {
                    "kind": "reading",
                    "device_id": s.device_id,
                    "measured_at": _iso(s.measured_at),
                    "seq": s.sensor_seq,
                    **msgspec.to_builtins(s.values),
                }
            )

    def fixes(self, fixes: Iterable[FixSample]) -> None:
        for f in fixes:
            self.item(
                {
                    "kind": "position",
                    "device_id": f.device_id,
                    "measured_at": _iso(f.measured_at),
                    **msgspec.to_builtins(f.fix),
                }
            )

    def events(self, events: Iterable[EventSample], packet_id: int | None = None) -> None:
        """``packet_id``: the advert's, for events that have no number of their own."""
        for e in events:
            self.item(
                {
                    "kind": "event",
                    "device_id": e.device_id,
                    "measured_at": _iso(e.measured_at),
                    "seq": e.sensor_seq if e.sensor_seq is not None else packet_id,
                    "event": e.kind,
                    "state": e.state,
                    "value": e.value,
                }
            )

    def states(self, states: Iterable[StateSample], packet_id: int | None) -> None:
        """A state as the event the gateway sends the first time it sees it."""
        for s in states:
            self.item(
                {
                    "kind": "event",
                    "device_id": s.device_id,
                    "measured_at": _iso(s.measured_at),
                    "seq": packet_id,
                    "event": s.kind,
                    "state": s.state,
                    "value": None,
                    "sensor": s.channel,
                }
            )

    def reject(self, error: DecodeError) -> None:
        self.err.write(f"rejected: {error}\n")
        self.rejected += 1

    def close(self, skipped: dict[str, int] | None = None) -> int:
        extra = ""
        if skipped:
            extra = "; skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(skipped.items()))
        self.err.write(f"{self.decoded} decoded, {self.rejected} rejected{extra}\n")
        return 1 if self.rejected else 0


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _open(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def decode_nmea(source: BinaryIO, device_id: str, report: Report) -> int:
    """Lines starting with ``#`` are comments (the convention of gpsd's test logs); a
    ``# Date: YYYY-MM-DD`` comment says when the capture was recorded and is used as the
    gateway's clock from there on, as gpsd does, so that the GPS week rollover rule judges the
    receiver's dates against the day of the capture rather than today."""
    stream = NmeaStream(device_id)
    now = datetime.now(UTC)
    comments = 0
    for line in source:
        if line.startswith(b"#"):
            comments += 1
            now = _capture_date(line) or now
            continue
        result = stream.feed(SerialChunk(device_id, now, line))
        report.fixes(result.fixes)
        for error in result.rejects:
            report.reject(error)
    result = stream.flush(now)
    report.fixes(result.fixes)
    for error in result.rejects:
        report.reject(error)
    skipped = dict(stream.skipped)
    if comments:
        skipped["comment-line"] = comments
    return report.close(skipped)


def _capture_date(comment: bytes) -> datetime | None:
    text = comment.decode("ascii", errors="replace")
    if not text.startswith("# Date:"):
        return None
    try:
        return datetime.fromisoformat(text.split(":", 1)[1].strip()[:10]).replace(tzinfo=UTC)
    except ValueError:
        return None


def decode_board(source: BinaryIO, report: Report) -> int:
    stream = BoardStream("board")
    now = datetime.now(UTC)
    results = [
        stream.feed(SerialChunk("board", now, chunk)) for chunk in iter(_reader(source), b"")
    ]
    results.append(stream.flush())
    for result in results:
        report.samples(result.samples)
        report.events(result.events)
        for status in result.statuses:
            report.item(
                {
                    "kind": "status",
                    "device_id": status.device_id,
                    "measured_at": _iso(status.measured_at),
                    "seq": status.sensor_seq,
                    "battery_mv": status.battery_mv,
                    "firmware": status.firmware,
                    "uptime_s": status.uptime_s,
                }
            )
        for error in result.rejects:
            report.reject(error)
    return report.close()


def decode_ble(
    hex_text: str,
    kind: str,
    bindkey_hex: str | None,
    address: str,
    report: Report,
    scan_responses: Iterable[str] = (),
) -> int:
    bindkey = registry.bindkey_from_hex(bindkey_hex) if bindkey_hex else None
    try:
        decoded = registry.decode_hex_advert(
            hex_text,
            kind=kind,
            bindkey=bindkey,
            address=address,
            received_at=datetime.now(UTC),
            scan_responses=tuple(scan_responses),
        )
    except DecodeError as error:
        report.reject(error)
    else:
        report.samples(decoded.samples)
        report.events(decoded.events, decoded.packet_id)
        report.states(decoded.states, decoded.packet_id)
        for refused in decoded.rejects:
            report.reject(refused)
    return report.close()


def _decode_ble(args: argparse.Namespace) -> int:
    return decode_ble(
        args.hex, args.kind, args.bindkey, args.address, Report(), args.scan_responses
    )


def _reader(source: BinaryIO) -> Callable[[], bytes]:
    return lambda: source.read(65536)


def _decode_board(args: argparse.Namespace) -> int:
    with _open(args.file) as source:
        return decode_board(source, Report())


def _decode_nmea(args: argparse.Namespace) -> int:
    with _open(args.file) as source:
        return decode_nmea(source, args.device_id, Report())
