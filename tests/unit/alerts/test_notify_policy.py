"""The retry policy: exponential backoff with jitter, capped, and long enough by default."""

from datetime import timedelta

import pytest

from alerts.notify_policy import RetryPolicy
from coldtrail.errors import ConfigError
from coldtrail.settings import NotifySettings, load


def test_delays_double_up_to_the_cap_then_give_up() -> None:
    policy = RetryPolicy(max_attempts=8, base_s=10, cap_s=100, jitter=0.0)
    delays = [d.total_seconds() for d in policy.schedule()]
    assert delays == [10, 20, 40, 80, 100, 100, 100]  # 7 waits between 8 attempts
    assert policy.delay(8) is None
    assert policy.delay(100) is None


def test_jitter_only_shortens_a_delay_and_by_at_most_its_fraction() -> None:
    policy = RetryPolicy(max_attempts=5, base_s=100, cap_s=1000, jitter=0.25)
    assert policy.delay(1, lambda: 0.0) == timedelta(seconds=100)
    assert policy.delay(1, lambda: 0.5) == timedelta(seconds=87.5)
    assert policy.delay(1, lambda: 0.999999) > timedelta(seconds=75)
    assert policy.delay(2, lambda: 0.999999) > timedelta(seconds=150)


def test_the_default_policy_keeps_trying_for_more_than_a_day() -> None:
    """A receiver down for 5 minutes (or a night) still gets the notification: with the default
    settings the attempts go on for over 24 hours whatever the jitter, before 'failed'."""
    policy = RetryPolicy.from_settings(NotifySettings())
    assert policy == RetryPolicy()  # the settings' defaults are the policy's
    shortest = policy.shortest_span()
    assert shortest > timedelta(hours=24)
    # ... while the first retries come quickly: a 5-minute outage costs at most ~10 minutes.
    plain = list(RetryPolicy(jitter=0.0).schedule())
    elapsed = timedelta()
    for delay in plain:
        elapsed += delay
        if elapsed > timedelta(minutes=5):
            break
    assert elapsed <= timedelta(minutes=11)
    assert max(plain) == timedelta(hours=1)


def test_settings_refuse_a_policy_that_makes_no_sense() -> None:
    with pytest.raises(ConfigError, match="backoff_cap_s must not be smaller"):
        load(NotifySettings, backoff_base_s=60, backoff_cap_s=10)
    with pytest.raises(ConfigError, match="lease_s must be longer than send_timeout_s"):
        load(NotifySettings, send_timeout_s=60, lease_s=30)
    with pytest.raises(ConfigError, match="COLDTRAIL_NOTIFY_MAX_ATTEMPTS"):
        load(NotifySettings, max_attempts=0)
