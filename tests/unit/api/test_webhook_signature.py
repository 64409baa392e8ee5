"""The webhook signature's time window, at its edges, with the clock given: a stamp exactly
TOLERANCE_S off either way passes, one second more does not."""

from __future__ import annotations

import pytest

from api.webhooks import TOLERANCE_S, sign, verify

SECRET = b"acme-logistics-secret-0123456789abcdef"
NOW = 1_796_000_000
BODY = b'{"tracking_number": "TN-W"}'


def check(stamp: int, secret: bytes = SECRET, body: bytes = BODY) -> bool:
    signature = sign(secret, str(stamp), body)
    return verify({"acme": SECRET}, "acme", str(stamp), signature, BODY, now=NOW)


@pytest.mark.parametrize("off", [0, TOLERANCE_S, -TOLERANCE_S])
def test_a_stamp_inside_the_window_passes(off: int) -> None:
    assert check(NOW - off)


@pytest.mark.parametrize("off", [TOLERANCE_S + 1, -(TOLERANCE_S + 1)])
def test_a_stamp_outside_the_window_is_refused(off: int) -> None:
    assert not check(NOW - off)


def test_another_secret_or_body_is_refused() -> None:
    assert not check(NOW, secret=b"other")
    assert not check(NOW, body=b"{}")
    assert not verify({"acme": SECRET}, "acme", "12a", "sha256=00", BODY, now=NOW)
