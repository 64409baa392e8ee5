"""Parcel rules as the rule runner builds them, for the tests that step readings through them
(tests/unit/alerts/test_step_readings.py, tests/unit/ingest/test_reading_block.py)."""

from __future__ import annotations

from alerts.builtin_profiles import builtin_profile
from alerts.button import ButtonRule
from alerts.condition import ParcelRules
from alerts.profile_model import Profile
from alerts.rules import door_rules, profile_rules, shock_above


def profile_named(name: str) -> Profile:
    profile = builtin_profile(name)
    assert profile is not None
    return profile


def parcel_rules_of(profile: Profile) -> ParcelRules:
    """As the rule runner builds them (ingest/derive.py), without zones."""
    extra = (shock_above(6.0), ButtonRule(), *door_rules(profile))
    return ParcelRules.build(profile, (*profile_rules(profile), *extra))
