"""``coldtrail db places import FILE.csv``: load known places (the CSV's header is
``name,kind,lat,lon,radius_m``). All or nothing: one invalid row imports nothing, and the error
names every invalid line. A place whose name is already stored is updated."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import psycopg

from coldtrail.errors import ConfigError
from coldtrail.places import CSV_COLUMNS, Place, parse_csv_row

UPSERT_PLACE = """
INSERT INTO places (name, kind, lat, lon, radius_m) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (name) DO UPDATE
   SET kind = excluded.kind, lat = excluded.lat, lon = excluded.lon, radius_m = excluded.radius_m
RETURNING (xmax = 0) AS inserted
"""


@dataclass(frozen=True, slots=True)
class ImportResult:
    inserted: int
    updated: int


def read_places(path: Path) -> list[Place]:
    """The places of a CSV file, or :class:`ConfigError` naming each invalid line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise ConfigError(
                    f"{path}: the header must name {','.join(CSV_COLUMNS)}; missing"
                    f" {', '.join(missing)}"
                )
            places: list[Place] = []
            errors: list[str] = []
            seen: dict[str, int] = {}
            for row in reader:
                line = reader.line_num
                try:
                    place = parse_csv_row({k.strip(): v for k, v in row.items() if k})
                except ValueError as exc:
                    errors.append(f"line {line}: {exc}")
                    continue
                if place.name in seen:
                    errors.append(f"line {line}: {place.name!r} already on line {seen[place.name]}")
                    continue
                seen[place.name] = line
                places.append(place)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: not a UTF-8 CSV file: {exc}") from None
    if errors:
        shown = "; ".join(errors[:20]) + (
            f"; and {len(errors) - 20} more" if len(errors) > 20 else ""
        )
        raise ConfigError(f"{path}: nothing imported, {len(errors)} invalid row(s): {shown}")
    if not places:
        raise ConfigError(f"{path}: no places in the file")
    return places


def import_places(url: str, places: list[Place]) -> ImportResult:
    """Insert or update the places, in one transaction."""
    inserted = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for p in places:
            cur.execute(UPSERT_PLACE, (p.name, p.kind, p.lat, p.lon, p.radius_m))
            row = cur.fetchone()
            inserted += bool(row and row[0])
    return ImportResult(inserted, len(places) - inserted)
