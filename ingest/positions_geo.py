"""Geometry for position tracking: great-circle distance and a fix's accuracy radius."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), the usual choice for haversine distances."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def accuracy_m(
    hdop: float | None, *, metres_per_hdop: float, min_m: float, assumed_hdop: float
) -> float:
    """The radius within which the true position probably lies: HDOP times the receiver's
    range error (UERE, ``metres_per_hdop``), never less than ``min_m``. A fix without HDOP is
    taken at ``assumed_hdop``."""
    return max(min_m, (assumed_hdop if hdop is None else hdop) * metres_per_hdop)
