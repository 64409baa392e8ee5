"""What rules read and what they raise, and how one rule runs over a series.

A rule is a pure function with explicit state: ``state, alerts = rule.step(state, sample)``.
Live, ingest keeps the state and feeds one sample at a time; over history, :func:`fold` does the
same over a stored series, so both give the same alerts. Times are always the samples' own
(measured) times: no rule reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from alerts.profile_model import Scope, Severity
from coldtrail.errors import ColdtrailError

AlertKind = Literal[
    "excursion",
    "budget",
    "mkt",
    "shock",
    "humidity",
    "battery",
    "door",
    "sensor_silent",
    "gateway_offline",
    "geofence",
    "late",
    "button",
]


class OutOfOrderSample(ColdtrailError):
    """A sample older than one the rule has already seen: rules need samples in time order."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One device's (or parcel's) measurements at one time, with where the parcel was.

    Every field but ``at`` is optional: a rule ignores a sample without its field (but still
    sees its time, so a door left open is caught by the next reading of any kind).
    """

    at: datetime
    temperature_c: float | None = None
    humidity_pct: float | None = None
    shock_g: float | None = None
    battery_pct: float | None = None
    scope: Scope = "transit"
    door_open: bool | None = None
    """A door (or lid) contact: True open, False closed."""
    light_lux: float | None = None
    """A light sensor inside the parcel or compartment (lux): light means it is open."""
    button: str | None = None
    """A button event: ``press``, ``double_press``, ``long_press``..."""
    button_number: float | None = None
    lat: float | None = None
    lon: float | None = None


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


StepFn = Callable[[Any, Sample], tuple[Any, list[Alert]]]


def _unrolled(name: str, steps: Sequence[StepFn]) -> StepFn:
    """One function that checks the order of the samples, then steps every rule in turn,
    written out rule by rule.

    The rule set is the hot path (every reading of every parcel goes through it); a loop over
    the rules costs about a fifth of the whole step, so the loop is unrolled once per rule
    set, the way :mod:`collections` builds a named tuple's methods. The generated code only
    calls the given step functions; it contains no data from outside.
    """
    n = len(steps)
    states = "".join(f"s{i}, " for i in range(n))
    lines = [
        "def step(state, sample):",
        f"    if len(state) != {n + 1}:",
        "        raise ValueError(",
        f"            f'rule set {{name}}: a state of {{len(state)}} items, expected {n + 1}; '",
        "            'start from initial()'",
        "        )",
        f"    {states}last_at, = state",
        "    at = sample.at",
        "    if last_at is not None and at < last_at:",
        "        check_order(last_at, sample, name)",
        *(f"    s{i}, a{i} = f{i}(s{i}, sample)" for i in range(n)),
        f"    return ({states}at,), [{', '.join(f'*a{i}' for i in range(n))}]",
    ]
    namespace: dict[str, Any] = {f"f{i}": step for i, step in enumerate(steps)}
    namespace.update(name=name, check_order=check_order)
    exec("\n".join(lines), namespace)  # noqa: S102 - code built above from constants only
    step: StepFn = namespace["step"]
    return step


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Several rules run side by side over the same samples.

    The state is a tuple: one state per rule, then the last sample's time (the rule set checks
    the order of the samples once for all its rules). It is opaque to callers: start from
    :meth:`initial` and hand back what :meth:`step` returned.
    """

    rules: Sequence[Rule[Any]]
    _step: StepFn = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        steps = [rule.step for rule in self.rules]
        object.__setattr__(self, "_step", _unrolled(self.name, steps))

    @property
    def name(self) -> str:
        return "+".join(rule.name for rule in self.rules)

    def initial(self) -> tuple[Any, ...]:
        return (*(rule.initial() for rule in self.rules), None)

    def states(self, state: tuple[Any, ...]) -> dict[str, Any]:
        """Each rule's own state, by rule name (e.g. to read a budget's consumption)."""
        return {rule.name: rule_state for rule, rule_state in zip(self.rules, state, strict=False)}

    @property
    def step_function(self) -> StepFn:
        """:meth:`step` itself, without the method call (for a caller in the hot path)."""
        return self._step

    def step(self, state: tuple[Any, ...], sample: Sample) -> tuple[tuple[Any, ...], list[Alert]]:
        """Each rule's step in turn; the alerts in the rules' order. Never changes ``state``."""
        new_state, alerts = self._step(state, sample)
        return new_state, alerts
