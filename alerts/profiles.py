"""Temperature profiles: the band a shipment's goods must stay in.

This is the first slice: a band per built-in profile. Delays, cumulative budgets, severities
and scopes come with the alerting work (docs/profiles.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Band:
    low_c: float | None
    high_c: float | None

    def breach(self, temperature_c: float) -> str | None:
        """ "high", "low" or None when the temperature is within the band."""
        if self.high_c is not None and temperature_c > self.high_c:
            return "high"
        if self.low_c is not None and temperature_c < self.low_c:
            return "low"
        return None


PROFILES: dict[str, Band] = {
    "pharma-2-8": Band(2.0, 8.0),
    "chilled-0-4": Band(0.0, 4.0),
    "frozen": Band(None, -18.0),
    "crt-15-25": Band(15.0, 25.0),
}
DEFAULT_PROFILE = "pharma-2-8"


def band(profile: str | None) -> Band | None:
    """The band of a profile name; None for an unknown or missing profile."""
    return PROFILES.get(profile or "")
