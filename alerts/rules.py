"""The rules of a profile, and the other rules of a parcel (humidity, battery, shock), built
from data. Each rule is pure with explicit state; see :mod:`alerts.events` for running them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alerts.door import DoorOpenRule
from alerts.events import Rule, RuleSet
from alerts.mkt import MktRule
from alerts.profile_model import Profile, Severity
from alerts.shock import ShockRule
from alerts.threshold import DEFAULT_MAX_GAP, Threshold


def _minutes(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(minutes=value)


def profile_rules(profile: Profile) -> list[Rule[Any]]:
    """One :class:`Threshold` per boundary, plus an :class:`MktRule` if the profile has one.

    Rule names are ``<profile>@<revision>/<boundary>`` so an alert says which rules raised it.
    """
    prefix = f"{profile.name}@{profile.revision}"
    max_gap = _minutes(profile.max_gap_min)
    rules: list[Rule[Any]] = [
        Threshold(
            name=f"{prefix}/{b.name}",
            field="temperature_c",
            direction=b.kind,
            limit=b.limit_c,
            kind="excursion",
            severity=b.severity,
            inclusive=b.inclusive,
            hysteresis=b.hysteresis_c,
            delay=_minutes(b.delay_min),
            budget=_minutes(b.budget_min),
            scopes=b.scopes,
            ignore_start=timedelta(minutes=profile.ignore_start_min),
            max_gap=max_gap,
        )
        for b in profile.boundaries
    ]
    if profile.mkt_max_c is not None:
        window = None if profile.mkt_window_h is None else timedelta(hours=profile.mkt_window_h)
        rules.append(MktRule(f"{prefix}/mkt", profile.mkt_max_c, window=window, max_gap=max_gap))
    return rules


def humidity_rules(
    low_pct: float | None,
    high_pct: float | None,
    *,
    delay: timedelta = timedelta(minutes=30),
    hysteresis_pct: float = 2.0,
    severity: Severity = "warning",
    max_gap: timedelta | None = DEFAULT_MAX_GAP,
) -> list[Rule[Any]]:
    """Relative humidity bounds (either may be None)."""
    bounds = (("high", "upper", high_pct), ("low", "lower", low_pct))
    return [
        Threshold(
            name=f"humidity/{label}",
            field="humidity_pct",
            direction="upper" if direction == "upper" else "lower",
            limit=limit,
            kind="humidity",
            severity=severity,
            hysteresis=hysteresis_pct,
            delay=delay,
            max_gap=max_gap,
        )
        for label, direction, limit in bounds
        if limit is not None
    ]


def battery_low(limit_pct: float = 20.0, *, hysteresis_pct: float = 5.0) -> Threshold:
    """Battery below ``limit_pct``, until it is back above it by the hysteresis (recharged).

    A battery level holds until the next report however late (no ``max_gap``): batteries drain
    slowly and many devices report theirs rarely."""
    return Threshold(
        name="battery/low",
        field="battery_pct",
        direction="lower",
        limit=limit_pct,
        kind="battery",
        hysteresis=hysteresis_pct,
        max_gap=None,
    )


def shock_above(threshold_g: float, *, quiet: timedelta = timedelta(minutes=1)) -> ShockRule:
    return ShockRule(name=f"shock/above-{threshold_g:g}g", threshold_g=threshold_g, quiet=quiet)


DEFAULT_DOOR_OPEN = timedelta(minutes=10)


def door_rules(profile: Profile | None) -> list[Rule[Any]]:
    """A door contact and a light sensor left open longer than the profile's
    ``door_open_max_min`` (10 min without a profile); none if the profile sets it to None."""
    if profile is None:
        delay = DEFAULT_DOOR_OPEN
    elif profile.door_open_max_min is None:
        return []
    else:
        delay = timedelta(minutes=profile.door_open_max_min)
    return [
        DoorOpenRule(name="door/open", source="door", delay=delay),
        DoorOpenRule(name="light/open", source="light", delay=delay),
    ]


def parcel_rules(profile: Profile, *extra: Rule[Any]) -> RuleSet:
    """A profile's rules and any others, run side by side over the same samples."""
    return RuleSet((*profile_rules(profile), *extra))
