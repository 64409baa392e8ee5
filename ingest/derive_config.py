"""The rule runner's settings (ingest/derive.py), from ingest's, and the user-defined profiles
they name."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from alerts.profile_model import Profile, ProfileError, load_profile
from coldtrail.settings import IngestSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    shock_g: float = 6.0
    silent_after: timedelta = timedelta(minutes=15)
    """A watched sensor not heard from for this long (its gateway online) raises an alert."""
    offline_grace: timedelta = timedelta(minutes=5)
    """A gateway offline for longer than this raises one alert for the outage."""
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    """User-defined profiles (``profiles_dir``), stored as new revisions when the runner starts
    (:func:`alerts.io.profile_store.save`): the rules read every profile from the store."""
    zone_radius_m: float = 500.0
    """The radius of a shipment's origin and destination zones (known places have their own)."""
    condition_refresh_s: float = 5.0
    """A parcel's stored condition is written when its verdict changes (state, scope, the
    allowance used, alerts, minimum or maximum); what changes with every reading (the last one,
    how many, when) is refreshed at most this often, so that the runner does not rewrite every
    parcel on every pass."""
    wait_s: float = 1.0
    """The longest the runner sleeps without a notification (also how fast it stops)."""
    standby_retry_s: float = 5.0


def runner_config(settings: IngestSettings) -> RunnerConfig:
    """The runner's settings from ingest's (profiles loaded: a broken one stops start-up)."""
    return RunnerConfig(
        shock_g=settings.shock_g,
        silent_after=timedelta(minutes=settings.silent_after_min),
        offline_grace=timedelta(minutes=settings.offline_grace_min),
        profiles=load_profiles(settings.profiles_dir),
        zone_radius_m=settings.zone_radius_m,
    )


def load_profiles(directory: Path | None) -> dict[str, Profile]:
    """The user-defined profiles of a directory, by name; :class:`ProfileError` names the file
    at fault (so a broken profile stops start-up rather than silently not alerting)."""
    if directory is None:
        return {}
    if not directory.is_dir():
        raise ProfileError(f"profiles directory {directory} does not exist")
    profiles: dict[str, Profile] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in (".toml", ".json"):
            continue
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            raise ProfileError(f"{path}: {exc}") from None
        if profile.name in profiles:
            raise ProfileError(f"{path}: profile {profile.name!r} is defined twice in {directory}")
        profiles[profile.name] = profile
        log.info("profile %s@%d loaded from %s", profile.name, profile.revision, path)
    return profiles
