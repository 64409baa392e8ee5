"""``coldtrail api``'s workers: how many, and each one's share of the per-client limits."""

from __future__ import annotations

import os

import pytest

from api import cli
from api.cli import per_worker, worker_count
from coldtrail.errors import ConfigError
from coldtrail.settings import ApiSettings


def test_one_worker_per_usable_core_at_most_four_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert worker_count(ApiSettings(workers=None)) == min(len(os.sched_getaffinity(0)), 4)
    # A 32-core host, this process allowed on 2 of them (a container's cpuset):
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert worker_count(ApiSettings(workers=None)) == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)))
    assert worker_count(ApiSettings(workers=None)) == cli.DEFAULT_MAX_WORKERS == 4
    assert worker_count(ApiSettings(workers=3)) == 3


def test_the_per_client_limits_are_shared_so_that_all_workers_never_allow_more() -> None:
    settings = ApiSettings(
        public_rate_per_min=120,
        public_burst=30,
        login_max_failures=5,
        live_max_streams_per_link=4,
        live_max_streams_per_address=20,
        live_max_streams=200,
    )
    one = per_worker(settings, 1)
    assert one == settings
    share = per_worker(settings, 2)
    assert share.public_rate_per_min * 2 == 120
    assert share.public_burst * 2 <= 30 and share.login_max_failures * 2 <= 5
    assert share.live_max_streams_per_link * 2 <= 4
    assert share.live_max_streams_per_address * 2 <= 20
    assert share.live_max_streams == 200  # a capacity of each process, not a client's share
    assert per_worker(ApiSettings(), 4).public_burst == 7  # the defaults fit 4 workers


@pytest.mark.parametrize(
    ("name", "env"),
    [
        ("public_burst", "COLDTRAIL_API_PUBLIC_BURST"),
        ("login_max_failures", "COLDTRAIL_API_LOGIN_MAX_FAILURES"),
        ("live_max_streams_per_link", "COLDTRAIL_API_LIVE_MAX_STREAMS_PER_LINK"),
        ("live_max_streams_per_address", "COLDTRAIL_API_LIVE_MAX_STREAMS_PER_ADDRESS"),
        ("public_rate_per_min", "COLDTRAIL_API_PUBLIC_RATE_PER_MIN"),
    ],
)
def test_a_limit_too_small_to_share_refuses_to_start_naming_it(name: str, env: str) -> None:
    # A share below 1 would allow each worker 1: all of them together more than configured.
    settings = ApiSettings(**{name: 3})
    assert getattr(per_worker(settings, 3), name) == 1
    with pytest.raises(ConfigError, match=f"{env}=3 cannot be shared by 4 API workers"):
        per_worker(settings, 4)
