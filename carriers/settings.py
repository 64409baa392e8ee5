"""The poller's settings (``COLDTRAIL_CARRIERS_…``) and each carrier's endpoint
(``COLDTRAIL_CARRIER_<NAME>_URL``, ``COLDTRAIL_CARRIER_<NAME>_KEY``), names derived from
:data:`carriers.registry.CARRIERS`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from carriers.registry import CARRIERS
from coldtrail.errors import ConfigError
from coldtrail.settings import DatabaseSettings


class CarriersSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_CARRIERS_", env_nested_delimiter="__")

    database: DatabaseSettings = DatabaseSettings()
    interval_s: float = Field(900.0, gt=0)
    """How long after a successful poll a leg is asked again."""
    cycle_s: float = Field(30.0, gt=0)
    """How often the service looks for legs that are due."""
    batch: int = Field(1000, ge=1)
    """The most legs one cycle asks about."""
    concurrency: int = Field(4, ge=1)
    """Requests in flight at once, per carrier."""
    rate_per_s: float = Field(5.0, gt=0)
    """Requests per second at most, per carrier."""
    backoff_s: float = Field(60.0, gt=0)
    """First delay after a failed poll, doubled at each failure in a row."""
    max_backoff_s: float = Field(3600.0, gt=0)
    expiry_days: float = Field(30.0, gt=0)
    """A leg that is not final this long after it was registered is Expired and no longer asked."""
    timeout_s: float = Field(15.0, gt=0)


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    key: SecretStr | None


def env_name(carrier: str, what: str) -> str:
    return f"COLDTRAIL_CARRIER_{carrier.upper()}_{what}"


def endpoints(environ: Mapping[str, str] | None = None) -> dict[str, Endpoint]:
    """Every carrier's base URL (its public API unless set) and key (if any)."""
    env = os.environ if environ is None else environ
    out = {}
    for name, carrier in CARRIERS.items():
        url = env.get(env_name(name, "URL"), carrier.default_url)
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"{env_name(name, 'URL')} must be an http(s) URL, not {url!r}")
        key = env.get(env_name(name, "KEY"))
        out[name] = Endpoint(url, SecretStr(key) if key else None)
    return out


PUSH_CARRIERS = ("ups", "dhl")
"""Carriers whose own push webhook ``coldtrail carriers push`` receives."""


def push_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``COLDTRAIL_CARRIER_<NAME>_PUSH_SECRET`` of each carrier that pushes (at least 16
    characters); a carrier without one is refused."""
    env = os.environ if environ is None else environ
    out = {}
    for name in PUSH_CARRIERS:
        secret = env.get(env_name(name, "PUSH_SECRET"))
        if secret is not None:
            if len(secret) < 16:
                raise ConfigError(f"{env_name(name, 'PUSH_SECRET')} must be at least 16 characters")
            out[name] = secret
    return out
