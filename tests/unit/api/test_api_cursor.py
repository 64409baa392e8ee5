"""The timeline cursor: what encode() makes, decode() gives back; anything else is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.cursor import MAX_LENGTH, InvalidCursor, TimelineKey, decode, encode


@pytest.mark.parametrize(
    "key",
    [
        TimelineKey(datetime(2026, 3, 31, 23, 59, 59, 999999, tzinfo=UTC), "reading", "tag-1", 0),
        TimelineKey(datetime(2026, 4, 1, tzinfo=UTC), "position", "A4:C1:38:00:00:01", 2**63 - 1),
        TimelineKey(
            datetime(2026, 4, 1, 2, tzinfo=timezone(timedelta(hours=2))), "reading", "é/?&=", -1
        ),
    ],
)
def test_decode_gives_back_what_encode_made(key: TimelineKey) -> None:
    cursor = encode(key)
    assert decode(cursor) == key
    assert cursor.replace("-", "").replace("_", "").isalnum()  # URL-safe, no padding


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "bm9wZQ",  # "nope"
        base64.urlsafe_b64encode(b'[2,"2026-04-01T00:00:00+00:00","reading","d",1]').decode(),
        base64.urlsafe_b64encode(b'[1,"2026-04-01T00:00:00","reading","d",1]').decode(),
        base64.urlsafe_b64encode(b'[1,"2026-04-01T00:00:00+00:00","event","d",1]').decode(),
        base64.urlsafe_b64encode(b'[1,"2026-04-01T00:00:00+00:00","reading",5,1]').decode(),
        base64.urlsafe_b64encode(b'[1,"2026-04-01T00:00:00+00:00","reading","d",true]').decode(),
        base64.urlsafe_b64encode(b'[1,"2026-04-01T00:00:00+00:00","reading","d",1e3]').decode(),
        base64.urlsafe_b64encode(
            b'[1,"2026-04-01T00:00:00+00:00","reading","d",9223372036854775808]'
        ).decode(),
        base64.urlsafe_b64encode(b'{"a":1,"b":2,"c":3,"d":4,"e":5}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "A" * (MAX_LENGTH + 1),
    ],
)
def test_decode_refuses_what_encode_did_not_make(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode(cursor)
