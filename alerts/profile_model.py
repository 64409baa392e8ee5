"""Temperature profiles as versioned data: boundaries with severities, delays, cumulative
budgets, an ignore period at the start and scopes. Loadable from TOML or JSON; the built-ins
live in :mod:`alerts.builtin_profiles`. See docs/profiles.md."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coldtrail.errors import ConfigError

Scope = Literal["origin", "transit", "destination"]
Severity = Literal["info", "warning", "critical"]
ALL_SCOPES: frozenset[Scope] = frozenset({"origin", "transit", "destination"})
SCHEMA_VERSION: Literal[1] = 1


class ProfileError(ConfigError):
    """A profile document that cannot be used; the message says which field and why."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Boundary(_Frozen):
    """One limit of a profile, e.g. "above 8 °C for 30 min single, 60 min in total"."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.+-]+$")
    kind: Literal["upper", "lower"]
    limit_c: float
    inclusive: bool = False
    """True: the limit itself is outside (WHO's "≥ 45 °C"); False: only beyond it is."""
    severity: Severity = "warning"
    delay_min: float | None = Field(default=0.0, ge=0)
    """Single event: alert once an excursion has lasted this long. None: no single-event
    alert (a cumulative-only boundary)."""
    budget_min: float | None = Field(default=None, gt=0)
    """Cumulative: alert once the time beyond the limit adds up to this, over the whole trip.
    Never resets."""
    hysteresis_c: float = Field(default=0.2, ge=0)
    """An excursion ends only once the temperature is back this far inside the limit."""
    scopes: frozenset[Scope] = ALL_SCOPES
    """Where the boundary applies: at origin, in transit, at destination."""

    @model_validator(mode="after")
    def _alerts_somehow(self) -> Boundary:
        if self.delay_min is None and self.budget_min is None:
            raise ValueError(f"boundary {self.name!r} has neither delay_min nor budget_min")
        if not self.scopes:
            raise ValueError(f"boundary {self.name!r} applies nowhere: scopes is empty")
        return self

    def beyond(self, temperature_c: float) -> bool:
        """Whether a temperature is outside this boundary (no hysteresis)."""
        if self.kind == "upper":
            return temperature_c >= self.limit_c if self.inclusive else temperature_c > self.limit_c
        return temperature_c <= self.limit_c if self.inclusive else temperature_c < self.limit_c


class Profile(_Frozen):
    """A named, versioned set of boundaries (and optionally a mean kinetic temperature limit)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    revision: int = Field(default=1, ge=1)
    """Bumped on every change, so an alert can say which rules raised it."""
    title: str = ""
    source: str = ""
    """Where the numbers come from (regulation, guideline, shipper's stability data)."""
    ignore_start_min: float = Field(default=0.0, ge=0)
    """Readings in this many minutes after the first one are not checked (loading, pre-cooling)."""
    boundaries: tuple[Boundary, ...] = Field(min_length=1)
    mkt_max_c: float | None = None
    """Alert when the mean kinetic temperature exceeds this (e.g. 25 °C for USP ⟨659⟩ CRT)."""
    mkt_window_h: float | None = Field(default=None, gt=0)
    """The MKT is over this rolling window; None: over the whole trip."""
    max_gap_min: float | None = Field(default=15.0, gt=0)
    """The longest time a reading's value is held for (budgets, areas, MKT). Readings further
    apart count for this long only, the rest is missing data, and an excursion going on ends
    at the last reading + this. None: held until the next reading, however late."""
    door_open_max_min: float | None = Field(default=10.0, gt=0)
    """How long a door (or lid) of the parcel's compartment may stay open: an opening longer
    than this raises one ``door`` alert (door contacts and light sensors, alerts/door.py).
    None: no door alert."""

    @model_validator(mode="after")
    def _unique_boundaries(self) -> Profile:
        names = [b.name for b in self.boundaries]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"profile {self.name!r}: duplicate boundary names {duplicates}")
        return self


def parse_profile(text: str | bytes, fmt: Literal["toml", "json"]) -> Profile:
    """A profile from a TOML or JSON document; :class:`ProfileError` says what is wrong."""
    try:
        if fmt == "toml":
            raw = text.decode() if isinstance(text, bytes) else text
            data: object = tomllib.loads(raw)
        else:
            data = json.loads(text)
        return Profile.model_validate(data)
    except (ValidationError, ValueError) as exc:
        raise ProfileError(f"invalid {fmt} profile: {exc}") from exc


def load_profile(path: Path) -> Profile:
    """A profile from a ``.toml`` or ``.json`` file."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ProfileError(f"{path}: a profile file must end in .toml or .json")
    return parse_profile(path.read_bytes(), "toml" if suffix == ".toml" else "json")
