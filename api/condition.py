"""The goods' condition on a shipment's timeline: its profile's excursions, per parcel.

A read model over the pure rules of :mod:`alerts`; computed from the stored readings on each
request, so it is always consistent with them. The database hands over only the readings that
decide the excursions (:func:`api.queries.band_edges`), not every reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from alerts.excursions import find_excursions
from alerts.profiles import band
from api import queries
from api.models import Alert


async def assess_shipment(
    conn: queries.Conn, shipment_id: int, profile: str | None, anything_read: bool
) -> tuple[bool | None, list[Alert]]:
    """(in_spec, alerts) of a shipment from its stored readings (see :func:`assess`)."""
    limits = band(profile)
    if limits is None or not anything_read:
        return None, []
    edges = await queries.band_edges(conn, shipment_id, limits.low_c, limits.high_c)
    in_spec, alerts = assess(profile, edges)
    return (not alerts if in_spec is None else in_spec), alerts


def assess(
    profile: str | None, temperatures: Mapping[str, Sequence[tuple[datetime, float]]]
) -> tuple[bool | None, list[Alert]]:
    """(in_spec, alerts): in_spec is None when the profile is unknown or nothing was read.

    ``temperatures`` are each parcel's readings in time order, or only those that decide the
    excursions (:func:`api.queries.band_edges`): the result is the same."""
    limits = band(profile)
    if limits is None:
        return None, []
    alerts = [
        Alert(
            parcel_id=parcel_id,
            boundary="high" if excursion.boundary == "high" else "low",
            limit_c=excursion.limit_c,
            start=excursion.start,
            end=excursion.end,
            peak_c=excursion.peak_c,
            readings=excursion.readings,
        )
        for parcel_id, series in sorted(temperatures.items())
        for excursion in find_excursions(series, limits)
    ]
    alerts.sort(key=lambda a: (a.start, a.parcel_id))
    if not any(temperatures.values()):
        return None, alerts
    return not alerts, alerts
