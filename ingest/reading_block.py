"""One device's stored readings as the rule runner reads them back in a pass: the database's
rows, kept as they came, with keys, samples and columns made from them only when asked.

Most passes judge a quiet batch (:meth:`alerts.events.RuleSet.step_readings`): the rules then
need the readings' columns and the subject the rows' keys, and no :class:`Sample` is built at
all; a batch the rules must step one by one is turned into ``(key, sample)`` rows, the same rows
the runner built before (equal samples, equal keys).

Pure: no I/O.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from alerts.events import Readings, Sample, reading_sample

RowKey = tuple[datetime, str, int]
"""(time, device_id, seq): the order rows reach a subject in, and their identity. A fix's
device is tagged (ingest.subjects.fix_key), and an event's (ingest.subjects.event_key): a device
may send readings, events and fixes with the same time and seq."""
Row = tuple[RowKey, Sample]
ReadingRow = tuple[datetime, str, int, float | None, float | None, float | None, float | None]
"""``(time, device_id, seq, temperature_c, humidity_pct, shock_g, battery_pct)``: a row of
:data:`ingest.derive_queries.READINGS_SINCE`."""

_KEY = itemgetter(0, 1, 2)
_DEVICE = itemgetter(1)


def key_of(row: ReadingRow) -> RowKey:
    """A reading row's key: ``(time, device_id, seq)``."""
    return row[:3]


def reading_row(row: ReadingRow) -> Row:
    """A stored reading as the rules' row: ``((time, device_id, seq), sample)``."""
    at, device_id, seq, temperature_c, humidity_pct, shock_g, battery_pct = row
    return (at, device_id, seq), reading_sample(
        at, temperature_c, humidity_pct, shock_g, battery_pct
    )


class ReadingBlock:
    """Plain readings in key order (time, device, seq) as :data:`ReadingRow` tuples: one
    device's read back in a pass, or a subject's history of readings."""

    __slots__ = ("_keys", "_readings", "_rows", "raw")

    def __init__(self, raw: list[ReadingRow]) -> None:
        self.raw = raw
        self._keys: list[RowKey] | None = None
        self._readings: Readings | None = None
        self._rows: list[Row] | None = None

    def __len__(self) -> int:
        return len(self.raw)

    def first_key(self) -> RowKey:
        return _KEY(self.raw[0])  # type: ignore[no-any-return]

    def keys(self) -> list[RowKey]:
        """The readings' keys (built once: a parcel and its logger's own rules share a block)."""
        if self._keys is None:
            self._keys = list(map(_KEY, self.raw))
        return self._keys

    def rows(self) -> list[Row]:
        """``(key, sample)`` per reading, as :func:`reading_row` gives it (built once)."""
        if self._rows is None:
            self._rows = list(map(reading_row, self.raw))
        return self._rows

    def readings(self) -> Readings:
        """The readings as columns (built once)."""
        if self._readings is None:
            if self.raw:
                columns = zip(*self.raw)  # noqa: B905 - rows of one query: all of 7 fields
                at, _, _, temperature_c, humidity_pct, shock_g, battery_pct = columns
                self._readings = Readings(at, temperature_c, humidity_pct, shock_g, battery_pct)
            else:
                self._readings = Readings((), (), (), (), ())
        return self._readings

    def halves(self) -> tuple[ReadingBlock, ReadingBlock]:
        middle = len(self.raw) // 2
        return ReadingBlock(self.raw[:middle]), ReadingBlock(self.raw[middle:])

    def within(self, start: datetime | None, end: datetime | None) -> ReadingBlock:
        """The readings from ``start`` (included) to ``end`` (excluded), either open if None."""
        at = self.readings().at
        lo = 0 if start is None else bisect_left(at, start)
        hi = len(at) if end is None else bisect_left(at, end)
        if lo == 0 and hi == len(at):
            return self
        return ReadingBlock(self.raw[lo:hi])


def blocks_by_device(rows: Iterable[Any]) -> dict[str, ReadingBlock]:
    """:data:`ReadingRow` tuples grouped by device (each device's together, in key order), as one
    block per device."""
    return {device_id: ReadingBlock(list(group)) for device_id, group in groupby(rows, _DEVICE)}
