"""What rules read and what they raise, and how one rule runs over a series.

A rule is a pure function with explicit state: ``state, alerts = rule.step(state, sample)``.
Live, ingest keeps the state and feeds one sample at a time; over history, :func:`fold` does the
same over a stored series, so both give the same alerts. Times are always the samples' own
(measured) times: no rule reads a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import MISSING, dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from operator import le
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

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


PLAIN_SCOPE: Scope = "transit"
"""A sample's scope unless a parcel's zones say otherwise (a plain reading's)."""


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
    scope: Scope = PLAIN_SCOPE
    door_open: bool | None = None
    """A door (or lid) contact: True open, False closed."""
    light_lux: float | None = None
    """A light sensor inside the parcel or compartment (lux): light means it is open."""
    button: str | None = None
    """A button event: ``press``, ``double_press``, ``long_press``..."""
    button_number: float | None = None
    lat: float | None = None
    lon: float | None = None


def _reading_constructor() -> Callable[
    [datetime, float | None, float | None, float | None, float | None], Sample
]:
    """:data:`reading_sample`, written out field by field (as :func:`_unrolled` is).

    The frozen dataclass's ``__init__`` sets each of the twelve fields through
    ``object.__setattr__``, looked up for each; setting the slots through their descriptors,
    bound once, costs about two thirds of that. Every field of :class:`Sample` is set: the
    given ones, and the others to their defaults (a new field without a default fails here,
    at import)."""
    given = ("at", "temperature_c", "humidity_pct", "shock_g", "battery_pct")
    fields_ = Sample.__dataclass_fields__
    namespace: dict[str, Any] = {"new": object.__new__, "Sample": Sample}
    lines = [f"def reading_sample({', '.join(given)}):", "    sample = new(Sample)"]
    for i, name in enumerate(fields_):
        namespace[f"set{i}"] = getattr(Sample, name).__set__
        if name in given:
            lines.append(f"    set{i}(sample, {name})")
        else:
            default = fields_[name].default
            if default is MISSING:
                raise TypeError(f"Sample.{name} has no default: update reading_sample")
            namespace[f"default{i}"] = default
            lines.append(f"    set{i}(sample, default{i})")
    if not set(given) <= set(fields_):
        raise TypeError("Sample's fields changed: update reading_sample")
    lines.append("    return sample")
    exec("\n".join(lines), namespace)  # noqa: S102 - code built above from constants only
    made: Callable[[datetime, float | None, float | None, float | None, float | None], Sample]
    made = namespace["reading_sample"]
    return made


reading_sample = _reading_constructor()
"""``reading_sample(at, temperature_c, humidity_pct, shock_g, battery_pct)``: the sample of a
stored reading, equal to ``Sample(at=at, temperature_c=..., ...)`` (every other field at its
default), built faster (the rule runner builds one per reading)."""


class Readings(NamedTuple):
    """Plain readings (only ``at`` and the measurements set; no door, light, button or
    position, the default scope) as columns: what :meth:`RuleSet.step_readings` judges a batch
    by, without a :class:`Sample` per reading. ``at[i]`` and each measurement's ``[i]`` are one
    reading."""

    at: Sequence[datetime]
    temperature_c: Sequence[float | None]
    humidity_pct: Sequence[float | None]
    shock_g: Sequence[float | None]
    battery_pct: Sequence[float | None]

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Readings:
        """The columns of ``samples`` (the caller says they are plain readings)."""
        return cls(
            [s.at for s in samples],
            [s.temperature_c for s in samples],
            [s.humidity_pct for s in samples],
            [s.shock_g for s in samples],
            [s.battery_pct for s in samples],
        )

    def samples(self) -> list[Sample]:
        """One :class:`Sample` per reading (what stepping them one by one takes)."""
        return list(map(reading_sample, *self))

    def in_time_order(self) -> bool:
        at = self.at
        return all(map(le, at, islice(at, 1, None)))


def present(column: Sequence[float | None]) -> Sequence[float]:
    """The values of a column that are not None (the column itself when none is)."""
    if None in column:
        return [v for v in column if v is not None]
    return column  # type: ignore[return-value]


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
UnchangedFn = Callable[[Any, "Readings"], bool]
AdvanceFn = Callable[[Any, "Readings"], Any]


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
    _unchanged: tuple[tuple[int, UnchangedFn], ...] | None = field(
        init=False, repr=False, compare=False
    )
    _advance: tuple[tuple[int, AdvanceFn], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        steps = [rule.step for rule in self.rules]
        object.__setattr__(self, "_step", _unrolled(self.name, steps))
        # How each rule takes a batch of plain readings: its state unchanged (most), or
        # advanced reading by reading without a sample (MKT); a rule with neither: never.
        unchanged: list[tuple[int, UnchangedFn]] | None = []
        advance: list[tuple[int, AdvanceFn]] = []
        for i, rule in enumerate(self.rules):
            if (check := getattr(rule, "unchanged_by_readings", None)) is not None:
                unchanged.append((i, check))  # type: ignore[union-attr]
            elif (step := getattr(rule, "advance_by_readings", None)) is not None:
                advance.append((i, step))
            else:
                unchanged = None
                break
        object.__setattr__(self, "_advance", tuple(advance))
        object.__setattr__(self, "_unchanged", None if unchanged is None else tuple(unchanged))

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

    def step_readings(
        self, state: tuple[Any, ...], readings: Readings | Sequence[Sample]
    ) -> tuple[Any, ...] | None:
        """The state after ``readings`` if none of them raises an alert, as stepping them one
        by one gives it, judged for the batch rather than stepped sample by sample; None if one
        might (then step them one by one).

        ``readings``: plain readings (only ``at`` and the measurements temperature, humidity,
        shock and battery set; no door, light, button or position, the default scope), as
        :class:`Readings` columns or as samples. Every rule must say how such readings leave its
        state: unchanged (``unchanged_by_readings(state, readings)``, its step's fast path,
        checked on the columns), or advanced (``advance_by_readings(state, readings)``: the
        state after them if none raises an alert, else None; the MKT's sums); a rule set with a
        rule that does neither is never stepped this way. A batch out of time order (within
        itself, or before the last sample stepped) is declined: the step says so."""
        unchanged = self._unchanged
        if unchanged is None or len(state) != len(self.rules) + 1:
            return None
        if not isinstance(readings, Readings):
            readings = Readings.of(readings)
        at = readings.at
        if not at:
            return None
        last_at = state[-1]
        if last_at is not None and at[0] < last_at:
            return None  # out of order: the step says so
        if not readings.in_time_order():
            return None  # out of order within the batch: the step says so too
        for i, check in unchanged:
            if not check(state[i], readings):
                return None
        if self._advance:
            states = list(state)
            for i, advance in self._advance:
                states[i] = advance(state[i], readings)
                if states[i] is None:
                    return None
            return (*states[:-1], at[-1])
        return (*state[:-1], at[-1])
