"""The request bounds of api/limits.py on a small ASGI app, in process: a body over the limit is
refused before the application reads it (or as soon as a chunked body passes the limit), and a
path, query string or header that is not storable text gets 400."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from api.limits import BodyLimit, InvalidText

LIMIT = 4096


class EchoApp:
    """Reads the whole body and answers its length; records what it received."""

    def __init__(self) -> None:
        self.calls = 0
        self.received = 0
        self.saw_disconnect = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        self.received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.saw_disconnect = True
                # What a framework answers when the client goes away mid-body: never sent.
                await self._answer(send, 400, b"client gone")
                return
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self._answer(send, 200, str(self.received).encode())

    @staticmethod
    async def _answer(send: Send, status: int, body: bytes) -> None:
        start: Message = {"type": "http.response.start", "status": status, "headers": []}
        await send(start)
        await send({"type": "http.response.body", "body": body})


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * size


async def test_a_body_within_the_limit_reaches_the_app() -> None:
    echo = EchoApp()
    async with client(BodyLimit(echo, max_bytes=LIMIT)) as c:
        response = await c.post("/", content=b"x" * LIMIT)
        chunked = await c.post("/", content=chunks(4, LIMIT // 4))
    assert (response.status_code, response.text) == (200, str(LIMIT))
    assert (chunked.status_code, chunked.text) == (200, str(LIMIT))


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    echo = EchoApp()
    async with client(BodyLimit(echo, max_bytes=LIMIT)) as c:
        response = await c.post("/", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert str(LIMIT) in response.json()["error"]["message"]
    assert response.headers["connection"] == "close"
    assert echo.calls == 0


async def test_a_chunked_body_is_cut_when_it_passes_the_limit() -> None:
    echo = EchoApp()
    async with client(BodyLimit(echo, max_bytes=LIMIT)) as c:
        response = await c.post("/", content=chunks(1000, 1024))  # 1 MB announced by nobody
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    # The app got the chunks up to the limit, then a disconnect; its own answer was dropped.
    assert echo.saw_disconnect
    assert echo.received <= LIMIT


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    await BodyLimit(app, max_bytes=LIMIT)({"type": "lifespan"}, _never, _never)
    await InvalidText(app)({"type": "lifespan"}, _never, _never)
    assert seen == ["lifespan", "lifespan"]


async def _never(*_: Any) -> Any:
    raise AssertionError("not called")


@pytest.mark.parametrize(
    ("url", "headers", "part"),
    [
        ("/v1/vehicles/a%00b/stops", {}, "path"),
        ("/v1/vehicles/a%FFb/stops", {}, "path"),
        ("/v1/alerts?kind=a%00b", {}, "query parameter"),
        ("/v1/alerts?kind=ok&tracking_number=%C3", {}, "query parameter"),
        ("/v1/alerts?a%00=1", {}, "query parameter"),
        ("/v1/alerts", {"Last-Event-ID": "1\x00"}, "header last-event-id"),
    ],
)
async def test_text_that_cannot_be_stored_is_refused(
    url: str, headers: dict[str, str], part: str
) -> None:
    echo = EchoApp()
    async with client(InvalidText(echo)) as c:
        response = await c.get(url, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_text",
        "message": f"the request's {part} holds a NUL character or bytes that are not UTF-8",
    }
    assert echo.calls == 0


async def test_other_text_passes() -> None:
    echo = EchoApp()
    async with client(InvalidText(echo)) as c:
        response = await c.get(
            "/v1/places/Z%C3%B6e%20%E2%98%83?q=caf%C3%A9+cr%C3%A8me&x=%25&y=a%0Ab",
            headers={"X-Tracking-Token": "abc"},
        )
    assert response.status_code == 200
    assert echo.calls == 1
