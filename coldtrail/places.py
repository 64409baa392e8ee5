"""Known places (depots, customers, hubs, rest areas) that stops are matched to.

Shared by ingest (``coldtrail db places import FILE.csv``) and the API (``/v1/places``): one
definition of a valid place. A stop is at the nearest place whose radius contains the stop's
centroid (computed when stops are read, so a place added later applies to older stops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

PlaceKind = Literal["depot", "customer", "hub", "rest_area"]
PLACE_KINDS: tuple[str, ...] = get_args(PlaceKind)
MAX_RADIUS_M = 50_000.0
"""The largest radius accepted (the stop query looks this far around a stop)."""
MAX_NAME = 200
CSV_COLUMNS = ("name", "kind", "lat", "lon", "radius_m")


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: PlaceKind
    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > MAX_NAME:
            raise ValueError(f"name must be 1 to {MAX_NAME} characters, not {self.name!r}")
        if any(ord(c) < 32 or ord(c) == 127 for c in self.name):
            raise ValueError(f"name must not contain control characters: {self.name!r}")
        if self.kind not in PLACE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PLACE_KINDS)}, not {self.kind!r}")
        for field, value, limit in (("lat", self.lat, 90.0), ("lon", self.lon, 180.0)):
            if not (math.isfinite(value) and -limit <= value <= limit):
                raise ValueError(f"{field} must be within ±{limit:g}, not {value}")
        if not (math.isfinite(self.radius_m) and 0 < self.radius_m <= MAX_RADIUS_M):
            raise ValueError(f"radius_m must be > 0 and <= {MAX_RADIUS_M:g}, not {self.radius_m}")


def parse_csv_row(row: dict[str, str | None]) -> Place:
    """A place from a CSV row (``csv.DictReader``); ``ValueError`` says what is wrong."""
    missing = [c for c in CSV_COLUMNS if not (row.get(c) or "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    values = {c: (row[c] or "").strip() for c in CSV_COLUMNS}
    numbers: dict[str, float] = {}
    for field in ("lat", "lon", "radius_m"):
        try:
            numbers[field] = float(values[field])
        except ValueError:
            raise ValueError(f"{field} is not a number: {values[field]!r}") from None
    kind = values["kind"]
    if kind not in PLACE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PLACE_KINDS)}, not {kind!r}")
    return Place(values["name"], kind, **numbers)  # type: ignore[arg-type]
