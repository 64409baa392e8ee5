"""A parcel's condition under its profile: the rule engine's own verdict, read from its state.

:class:`ParcelRules` is what the rule runner steps for every parcel: the geofence of the
parcel's zones (origin, destination, known places) first, whose state gives each sample its
scope, then the parcel's rule set (the profile's boundaries and MKT, shock, door, button). It is
a rule like the others (``initial`` / pure ``step``), so live and replay give the same states and
alerts, and :meth:`ParcelRules.verdict` reads the condition off the state:

- ``no_data``: no temperature reading judged yet (or no profile to judge it by);
- ``in_spec``: every reading inside every boundary;
- ``excursion_within_allowance``: a reading was beyond a boundary, but no alert of the profile
  with severity warning or critical fired: the delay or the budget is not used up (the
  allowance says how much is used), or the boundary only informs (``crt-15-25``'s 25 °C);
- ``out_of_spec``: an alert of the profile (excursion, budget, MKT) with severity warning or
  critical fired. The stored alerts are the same alerts, so the verdict and the alerts agree.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from alerts.events import PLAIN_SCOPE, Alert, Readings, Rule, RuleSet, Sample, StepFn, present
from alerts.geofence import GeofenceRule, GeofenceState, Zone
from alerts.profile_model import Profile, Scope, Severity
from alerts.threshold import Threshold, ThresholdState

ConditionState = Literal["in_spec", "excursion_within_allowance", "out_of_spec", "no_data"]
CONDITION_STATES: tuple[ConditionState, ...] = (
    "in_spec",
    "excursion_within_allowance",
    "out_of_spec",
    "no_data",
)
_MINUTE = timedelta(minutes=1)


class BoundaryUse(NamedTuple):
    """How much of one boundary's allowance is used, as of the last sample."""

    boundary: str
    kind: Literal["upper", "lower"]
    limit_c: float
    severity: Severity
    beyond: bool
    """An excursion beyond this boundary is going on."""
    since: datetime | None
    """When the excursion going on started."""
    delay_min: float | None
    delay_used_min: float | None
    """How long the excursion going on has lasted (None: none going on)."""
    budget_min: float | None
    budget_used_min: float
    """Time beyond the limit over the whole trip."""
    alerted: bool
    """This boundary's excursion going on has raised its alert, or its budget is spent."""


@dataclass(frozen=True, slots=True)
class Verdict:
    state: ConditionState
    scope: Scope
    judged_through: datetime | None
    readings: int
    min_c: float | None
    max_c: float | None
    last_c: float | None
    last_at: datetime | None
    allowance: tuple[BoundaryUse, ...]
    alerts: int
    """Profile alerts (warning or critical) that fired over the trip."""


ParcelState = tuple[
    GeofenceState,  # the geofence's state
    Scope,  # the scope its zones give (origin, transit, destination)
    tuple[Any, ...],  # the rule set's state
    int,  # temperature readings judged
    float | None,  # their minimum
    float | None,  # their maximum
    float | None,  # the last one
    datetime | None,  # its time
    frozenset[tuple[str, datetime]],  # (rule, start) of the profile's warning/critical alerts
    datetime | None,  # the last sample's time
]
"""A flat tuple: the hot path builds one per sample (a named tuple costs twice as much)."""


def _zones_key(zones: Sequence[Zone]) -> str:
    """What identifies a set of zones: a digest of their kinds, names, centres and radii."""
    text = ";".join(f"{z.kind}:{z.name}@{z.lat:.6f},{z.lon:.6f}/{z.radius_m:g}" for z in zones)
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


@dataclass(frozen=True, slots=True)
class ParcelRules:
    """A parcel's whole rule set: its zones, its profile's rules and the others."""

    profile: Profile | None
    rules: RuleSet
    zones: tuple[Zone, ...] = ()
    _geofence: GeofenceRule | None = None
    _thresholds: tuple[tuple[Threshold, str, int], ...] = ()
    """The profile's boundaries: (rule, boundary name, index in ``rules``)."""
    _profile_rules: frozenset[str] = frozenset()
    _step_rules: StepFn | None = None
    _name: str = ""

    @classmethod
    def build(
        cls, profile: Profile | None, rules: Sequence[Rule[Any]], zones: Sequence[Zone] = ()
    ) -> ParcelRules:
        """``rules``: the profile's (alerts.rules.profile_rules) and any others."""
        prefix = "" if profile is None else f"{profile.name}@{profile.revision}/"
        own = frozenset(r.name for r in rules if prefix and r.name.startswith(prefix))
        thresholds = tuple(
            (rule, rule.name[len(prefix) :], i)
            for i, rule in enumerate(rules)
            if isinstance(rule, Threshold) and rule.name in own
        )
        rule_set = RuleSet(tuple(rules))
        return cls(
            profile=profile,
            rules=rule_set,
            zones=tuple(zones),
            _geofence=GeofenceRule(zones) if zones else None,
            _thresholds=thresholds,
            _profile_rules=own,
            _step_rules=rule_set.step_function,
            _name=f"{rule_set.name}|zones={_zones_key(zones)}",
        )

    @property
    def name(self) -> str:
        """Changes whenever the rules or the zones do (the runner then rebuilds the parcel)."""
        return self._name

    @property
    def rule_names(self) -> list[str]:
        """Every rule whose alerts this rule set stores (a rebuild supersedes the others')."""
        names = [rule.name for rule in self.rules.rules]
        if self._geofence is not None:
            names.extend(self._geofence.rule_names())
        return names

    def initial(self) -> ParcelState:
        geo = self._geofence.initial() if self._geofence else GeofenceState()
        return (
            geo,
            geo.scope(),
            self.rules.initial(),
            0,
            None,
            None,
            None,
            None,
            frozenset(),
            None,
        )

    def step(self, state: ParcelState, sample: Sample) -> tuple[ParcelState, list[Alert]]:
        geo, scope, rule_state, n, low, high, last_c, last_at, fired, _ = state
        geo_alerts: list[Alert] = []
        if sample.lat is not None and self._geofence is not None:
            geo, geo_alerts = self._geofence.step(geo, sample)
            scope = geo.scope()
        if scope != sample.scope:
            sample = replace(sample, scope=scope)
        assert self._step_rules is not None
        rule_state, alerts = self._step_rules(rule_state, sample)
        t = sample.temperature_c
        if t is not None:
            n += 1
            if low is None or t < low:
                low = t
            if high is None or t > high:
                high = t
            last_c, last_at = t, sample.at
        if alerts:
            serious = {
                (a.rule, a.start)
                for a in alerts
                if a.severity != "info" and a.rule in self._profile_rules
            }
            if not serious <= fired:
                fired = fired | serious
        if geo_alerts:
            alerts = geo_alerts + alerts
        return (geo, scope, rule_state, n, low, high, last_c, last_at, fired, sample.at), alerts

    def step_readings(
        self, state: ParcelState, readings: Readings | Sequence[Sample]
    ) -> ParcelState | None:
        """The state after ``readings`` (plain readings in time order, as columns or samples,
        see :meth:`RuleSet.step_readings`) if none of them changes a rule's state, as
        :meth:`step` one by one would give it (no alert, the counts and temperatures updated);
        None if one might: then step them one by one."""
        geo, scope, rule_state, n, low, high, last_c, last_at, fired, _ = state
        if not isinstance(readings, Readings):
            if not readings or scope != readings[0].scope:
                return None
            readings = Readings.of(readings)
        if scope != PLAIN_SCOPE or not readings.at:
            return None  # the rules would see the parcel's scope
        new_rules = self.rules.step_readings(rule_state, readings)
        if new_rules is None:
            return None
        column = readings.temperature_c
        temps = present(column)
        if temps:
            total = sum(temps)
            if total != total:  # a NaN: min and max would depend on its place
                return None
            n += len(temps)
            lo, hi = min(temps), max(temps)
            if low is None or lo < low:
                low = lo
            if high is None or hi > high:
                high = hi
            for i in range(len(column) - 1, -1, -1):
                if column[i] is not None:
                    last_c, last_at = column[i], readings.at[i]
                    break
        return (geo, scope, new_rules, n, low, high, last_c, last_at, fired, readings.at[-1])

    def verdict(self, state: ParcelState) -> Verdict:
        """The parcel's condition as of the last sample the rules saw."""
        _, scope, rule_state, n, low, high, last_c, last_at, fired, through = state
        allowance = tuple(self._uses(rule_state))
        state_: ConditionState
        if self.profile is None or n == 0:
            state_ = "no_data"
        elif fired:
            state_ = "out_of_spec"
        elif any(use.beyond or use.budget_used_min > 0 for use in allowance):
            state_ = "excursion_within_allowance"
        else:
            state_ = "in_spec"
        return Verdict(
            state=state_,
            scope=scope,
            judged_through=through,
            readings=n,
            min_c=low,
            max_c=high,
            last_c=last_c,
            last_at=last_at,
            allowance=allowance,
            alerts=len(fired),
        )

    def _uses(self, rule_state: tuple[Any, ...]) -> list[BoundaryUse]:
        out = []
        for rule, boundary, i in self._thresholds:
            s: ThresholdState = rule_state[i]
            exc = s.excursion
            used_delay = None
            if exc is not None and s.last_at is not None:
                used_delay = round((s.last_at - exc.start) / _MINUTE, 1)
            out.append(
                BoundaryUse(
                    boundary=boundary,
                    kind=rule.direction,
                    limit_c=rule.limit,
                    severity=rule.severity,
                    beyond=exc is not None,
                    since=None if exc is None else exc.start,
                    delay_min=None if rule.delay is None else rule.delay / _MINUTE,
                    delay_used_min=used_delay,
                    budget_min=None if rule.budget is None else rule.budget / _MINUTE,
                    budget_used_min=s.used / _MINUTE,
                    alerted=(exc is not None and exc.alerted) or s.budget_spent,
                )
            )
        return out
