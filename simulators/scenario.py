"""Scenario files: a simulated fleet, what happens to it, and what the system must do about it.

A scenario is a TOML file (see docs/simulation.md for the full schema)::

    [scenario]
    name = "compressor failure"
    start = "08:00"          # the simulated clock at the start (hour of day: weather, labels)
    duration = "4h"          # simulated time
    speed = 60               # simulated seconds per wall second (``--speed`` overrides)

    [fleet]
    vans = 3
    parcels = 9

    [[events]]
    at = "10:40"
    kind = "compressor_failure"
    vehicle = "van-2"

    [[expect]]
    what = "alert"
    vehicle = "van-2"
    kind = "above-8/excursion"
    count = 3
    from = "10:40"
    until = "11:30"

    [profile]                # optional: a profile of the scenario's own, stored before the run
    name = "zones-test"
    [[profile.boundaries]]
    name = "above-4.5-at-origin"
    kind = "upper"
    limit_c = 4.5
    scopes = ["origin"]

Times (``at``, ``from``, ``until``) are on the simulated clock, "HH:MM" or "HH:MM:SS" after
``start`` (a time earlier than ``start`` is on the next day); durations are "90s", "20m", "4h",
"1h30m". Every mistake is reported as ``FILE: key: problem``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coldtrail.errors import ConfigError

EVENT_KINDS = ("compressor_failure", "door_open", "drop", "gateway_offline")
EXPECT_WHATS = ("alert", "exception", "notification")
AUDIENCES = ("ops", "quality", "shopper")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


@dataclass(frozen=True, slots=True)
class Event:
    at_s: float
    kind: str
    vehicle: str | None
    parcel: str | None
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class Expectation:
    index: int
    what: str
    vehicle: str | None = None
    parcel: str | None = None
    subject: str | None = None  # alerts: parcel, device or gateway
    kind: str | None = None  # alerts: the end of "<rule>/<kind>", e.g. "above-8/budget"
    audience: str | None = None  # notifications
    count: int | None = None
    at_least: int | None = None
    from_s: float | None = None
    until_s: float | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class Checks:
    lost: int = 0
    duplicated: int = 0
    false_alerts: int = 0


@dataclass(frozen=True, slots=True)
class Scenario:
    path: Path
    name: str
    description: str
    start_s: float  # seconds after midnight of the simulated clock at elapsed 0
    duration_s: float
    speed: float
    seed: int
    vans: int
    parcels: int
    profile: str
    ble_interval_s: float
    gps_interval_s: float
    advert_loss: float
    set_point_c: float
    events: tuple[Event, ...]
    expectations: tuple[Expectation, ...]
    checks: Checks = field(default_factory=Checks)
    profile_document: dict[str, Any] | None = None
    """A profile of the scenario's own (``[profile]``, docs/profiles.md), stored through the
    API before the shipments are registered; the fleet's profile is then its name."""

    def clock_label(self, elapsed_s: float) -> str:
        t = int(self.start_s + elapsed_s)
        days, t = divmod(t, 86400)
        label = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
        return label + (f" (+{days} d)" if days else "")


class _Reader:
    """Reads one table of the file, naming the file and key in every error."""

    def __init__(self, path: Path, where: str, table: Any) -> None:
        self.path = path
        self.where = where
        if not isinstance(table, dict):
            self.fail(None, f"must be a table, got {type(table).__name__}")
        self.table: dict[str, Any] = table
        self.used: set[str] = set()

    def fail(self, key: str | None, problem: str) -> None:
        name = f"{self.where}.{key}" if key else self.where
        raise ConfigError(f"{self.path}: {name}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(key, f"expected {_names(kind)}, got a boolean")
        if not isinstance(value, kind):
            self.fail(key, f"expected {_names(kind)}, got {type(value).__name__} {value!r}")
        return value

    def required(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.table:
            self.fail(key, "is required")
        return self.get(key, kind)

    def duration(self, key: str, default: float | None = None) -> float | None:
        text = self.get(key, str)
        if text is None:
            return default
        match = _DURATION.match(text.strip())
        if not text.strip() or not match or not any(match.groups()):
            self.fail(key, f"{text!r} is not a duration like '90s', '20m', '4h' or '1h30m'")
        assert match is not None
        h, m, s = (int(g or 0) for g in match.groups())
        return float(h * 3600 + m * 60 + s)

    def clock(self, key: str, start_s: float, *, required: bool = False) -> float | None:
        text = self.required(key, str) if required else self.get(key, str)
        if text is None:
            return None
        seconds = parse_clock(text)
        if seconds is None:
            self.fail(key, f"{text!r} is not a time of day like '10:40' or '10:40:30'")
        assert seconds is not None
        return (seconds - start_s) % 86400

    def positive(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.get(key, kind, default)
        if value is not None and value <= 0:
            self.fail(key, f"must be positive, got {value}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            self.fail(
                None,
                f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(self.used))}",
            )


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_clock(text: str) -> float | None:
    match = _CLOCK.match(text.strip())
    if not match:
        return None
    h, m, s = int(match[1]), int(match[2]), int(match[3] or 0)
    if h > 23 or m > 59 or s > 59:
        return None
    return float(h * 3600 + m * 60 + s)


def load(path: Path | str, *, speed: float | None = None) -> Scenario:
    """The scenario in ``path``, validated; ConfigError naming the file and key otherwise."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scenario ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    top = _Reader(path, "(top level)", data)
    head = _Reader(path, "scenario", top.required("scenario", dict))
    name = head.required("name", str)
    description = head.get("description", str, "")
    start_text = head.get("start", str, "08:00")
    start_s = parse_clock(start_text)
    if start_s is None:
        head.fail("start", f"{start_text!r} is not a time of day like '08:00'")
    assert start_s is not None
    duration_s = head.duration("duration")
    if duration_s is None:
        head.fail("duration", "is required (e.g. '4h')")
    assert duration_s is not None
    scenario_speed = head.positive("speed", (int, float), 60)
    seed = head.get("seed", int, 7)
    head.done()

    profile_document = top.get("profile", dict)
    if profile_document is not None and not isinstance(profile_document.get("name"), str):
        top.fail("profile", "a profile of the scenario needs a name (docs/profiles.md)")
    fl = _Reader(path, "fleet", top.get("fleet", dict, {}))
    vans = fl.positive("vans", int, 2)
    parcels = fl.positive("parcels", int, 6)
    default_profile = profile_document["name"] if profile_document else "pharma-2-8"
    profile = fl.get("profile", str, default_profile)
    ble_interval_s = fl.duration("ble_interval", 60.0)
    gps_interval_s = fl.duration("gps_interval", 10.0)
    advert_loss = float(fl.get("advert_loss", (int, float), 0.02))
    if not 0 <= advert_loss < 1:
        fl.fail("advert_loss", f"must be in [0, 1), got {advert_loss}")
    set_point_c = float(fl.get("set_point_c", (int, float), 5.0))
    fl.done()
    vehicles = {f"van-{n + 1}" for n in range(vans)}

    events = []
    for i, raw in enumerate(top.get("events", list, [])):
        ev = _Reader(path, f"events[{i}]", raw)
        at_s = ev.clock("at", start_s, required=True)
        assert at_s is not None
        kind = ev.required("kind", str)
        if kind not in EVENT_KINDS:
            ev.fail("kind", f"unknown event {kind!r}; known: {', '.join(EVENT_KINDS)}")
        vehicle = ev.required("vehicle", str)
        if vehicle not in vehicles:
            ev.fail("vehicle", f"no {vehicle!r} in a fleet of {vans} vans (van-1..van-{vans})")
        parcel = ev.get("parcel", int)
        if kind == "drop" and parcel is None:
            ev.fail("parcel", "a drop needs the parcel's number in its van (1 = the first)")
        duration = ev.duration("duration")
        if kind in ("door_open", "gateway_offline") and duration is None:
            ev.fail("duration", f"a {kind} event needs a duration, e.g. '20m'")
        if at_s >= duration_s:
            ev.fail("at", f"{raw['at']} is after the scenario's end")
        ev.done()
        events.append(Event(at_s, kind, vehicle, None if parcel is None else str(parcel), duration))

    expectations = []
    for i, raw in enumerate(top.get("expect", list, [])):
        ex = _Reader(path, f"expect[{i}]", raw)
        what = ex.required("what", str)
        if what not in EXPECT_WHATS:
            ex.fail("what", f"unknown {what!r}; known: {', '.join(EXPECT_WHATS)}")
        vehicle = ex.get("vehicle", str)
        if vehicle is not None and vehicle not in vehicles:
            ex.fail("vehicle", f"no {vehicle!r} in a fleet of {vans} vans")
        subject = ex.get("subject", str)
        if subject is not None and subject not in ("parcel", "device", "gateway"):
            ex.fail("subject", f"{subject!r}: expected parcel, device or gateway")
        audience = ex.get("audience", str)
        if audience is not None and audience not in AUDIENCES:
            ex.fail("audience", f"{audience!r}: expected one of {', '.join(AUDIENCES)}")
        count = ex.get("count", int)
        at_least = ex.get("at_least", int)
        if (count is None) == (at_least is None):
            ex.fail(None, "give exactly one of count (exactly) or at_least")
        expectation = Expectation(
            index=i,
            what=what,
            vehicle=vehicle,
            parcel=ex.get("parcel", str),
            subject=subject,
            kind=ex.get("kind", str),
            audience=audience,
            count=count,
            at_least=at_least,
            from_s=ex.clock("from", start_s),
            until_s=ex.clock("until", start_s),
            label=ex.get("label", str, ""),
        )
        if what != "alert" and (expectation.kind or expectation.subject):
            ex.fail("kind" if expectation.kind else "subject", "applies to alerts only")
        if what != "notification" and audience:
            ex.fail("audience", "applies to notifications only")
        if what != "alert" and (expectation.from_s is not None or expectation.until_s is not None):
            ex.fail("from", "from/until apply to alerts (their start on the simulated clock)")
        ex.done()
        expectations.append(expectation)

    ck = _Reader(path, "checks", top.get("checks", dict, {}))
    checks = Checks(
        lost=ck.get("lost", int, 0),
        duplicated=ck.get("duplicated", int, 0),
        false_alerts=ck.get("false_alerts", int, 0),
    )
    ck.done()
    top.done()
    return Scenario(
        path=path,
        name=name,
        description=description,
        start_s=start_s,
        duration_s=duration_s,
        speed=float(speed or scenario_speed),
        seed=seed,
        vans=vans,
        parcels=parcels,
        profile=profile,
        ble_interval_s=ble_interval_s or 60.0,
        gps_interval_s=gps_interval_s or 10.0,
        advert_loss=advert_loss,
        set_point_c=set_point_c,
        events=tuple(events),
        expectations=tuple(expectations),
        checks=checks,
        profile_document=profile_document,
    )
