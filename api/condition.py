"""The goods' condition on a shipment's timeline: its profile's excursions, per parcel.

A read model over the pure rules of :mod:`alerts`; computed from the stored readings on each
request, so it is always consistent with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from alerts.excursions import find_excursions
from alerts.profiles import band
from api.models import Alert


def assess(
    profile: str | None, temperatures: Mapping[str, Sequence[tuple[datetime, float]]]
) -> tuple[bool | None, list[Alert]]:
    """(in_spec, alerts): in_spec is None when the profile is unknown or nothing was read."""
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
