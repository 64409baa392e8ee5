"""``coldtrail api``'s workers: how many, and each one's share of the per-client limits."""

from __future__ import annotations

import os

from api.cli import per_worker, worker_count
from coldtrail.settings import ApiSettings


def test_one_worker_per_core_unless_set() -> None:
    assert worker_count(ApiSettings(workers=None)) == (os.cpu_count() or 1)
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
    # Never below one: a limit of 1 with 4 workers still lets a client in.
    assert per_worker(ApiSettings(login_max_failures=1), 4).login_max_failures == 1
