"""What rules read and what they raise, and how one rule runs over a series.

A rule is a pure function with explicit state: ``state, alerts = rule.step(state, sample)``.
Live, ingest keeps the state and feeds one sample at a time; over history, :func:`fold` does the
same over a stored series, so both give the same alerts. Times are always the samples' own
(measured) times: no rule reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from alerts.profile_model import Scope, Severity
from coldtrail.errors import ColdtrailError

AlertKind = Literal["excursion", "budget", "mkt", "shock", "humidity", "battery"]


class OutOfOrderSample(ColdtrailError):
    """A sample older than one the rule has already seen: rules need samples in time order."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One device's (or parcel's) measurements at one time, with where the parcel was."""

    at: datetime
    temperature_c: float | None = None
    humidity_pct: float | None = None
    shock_g: float | None = None
    battery_pct: float | None = None
    scope: Scope = "transit"


@dataclass(frozen=True, slots=True)
class Alert:
    """A rule firing. Emitted once when it opens (``end`` None) and once when it closes.

    ``peak`` and ``limit`` are in the measured unit (°C, %, g); ``area`` is the integral of the
    distance beyond the limit over time, in that unit x minutes (°C·min for temperature).
    """

    rule: str
    kind: AlertKind
    severity: Severity
    start: datetime
    end: datetime | None
    peak: float
    limit: float
    duration: timedelta
    area: float = 0.0
    count: int = 1

    @property
    def ongoing(self) -> bool:
        return self.end is None


S = TypeVar("S")


class Rule(Protocol[S]):
    """A rule: an initial state and a pure step function."""

    @property
    def name(self) -> str: ...

    def initial(self) -> S: ...

    def step(self, state: S, sample: Sample) -> tuple[S, list[Alert]]: ...


def check_order(last_at: datetime | None, sample: Sample, rule: str) -> None:
    if last_at is not None and sample.at < last_at:
        raise OutOfOrderSample(
            f"rule {rule}: sample at {sample.at.isoformat()} is older than the last one "
            f"({last_at.isoformat()}); sort the series before running the rules"
        )


def fold(rule: Rule[S], samples: Iterable[Sample], state: S | None = None) -> tuple[S, list[Alert]]:
    """Run ``rule`` over ``samples`` (time order) from ``state`` (default: the initial one)."""
    current = rule.initial() if state is None else state
    out: list[Alert] = []
    for sample in samples:
        current, alerts = rule.step(current, sample)
        out.extend(alerts)
    return current, out


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Several rules run side by side over the same samples; the state is one per rule."""

    rules: Sequence[Rule[Any]]

    @property
    def name(self) -> str:
        return "+".join(rule.name for rule in self.rules)

    def initial(self) -> tuple[Any, ...]:
        return tuple(rule.initial() for rule in self.rules)

    def step(self, state: tuple[Any, ...], sample: Sample) -> tuple[tuple[Any, ...], list[Alert]]:
        states: list[Any] = []
        out: list[Alert] = []
        for rule, rule_state in zip(self.rules, state, strict=True):
            new_state, alerts = rule.step(rule_state, sample)
            states.append(new_state)
            out.extend(alerts)
        return tuple(states), out
