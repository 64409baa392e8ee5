"""The dead letters' payload preview: text when it is text, else hex; never a cut character."""

from __future__ import annotations

import pytest

from api.queries_dead_letters import preview


@pytest.mark.parametrize(
    ("head", "size", "expected"),
    [
        (b'{"v": 1}\n', 9, ("text", '{"v": 1}\n')),
        ("Zoë".encode(), 4, ("text", "Zoë")),
        ("aé".encode()[:2], 3, ("text", "a")),  # the preview cut "é" in two: dropped
        ("aé".encode()[:2], 2, ("hex", "61c3")),  # the whole payload ends mid-character
        (b"a\x00b", 3, ("hex", "610062")),
        (b"\x1b[31mred", 8, ("hex", "1b5b33316d726564")),  # a terminal escape is not shown
        (b"\xff\xfe", 2, ("hex", "fffe")),
        (b"", 0, ("text", "")),
    ],
)
def test_a_preview_is_text_or_hex(head: bytes, size: int, expected: tuple[str, str]) -> None:
    assert preview(head, size) == expected
