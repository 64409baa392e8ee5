"""Bounds on what a request may bring in, applied before any route, auth or parser sees it.

- :class:`BodyLimit`: a body larger than ``max_body_bytes`` gets ``413 body_too_large``. A
  ``Content-Length`` above the limit is refused at once, without reading a byte of the body; a
  body without one (chunked) is counted while it arrives and refused when the count passes the
  limit, so at most the limit plus one chunk is ever held. Whatever the application answers after
  that is dropped.
- :class:`InvalidText`: a path, query string or header value that is not text PostgreSQL can
  store (a NUL character, or percent-encoded bytes that are not UTF-8) gets ``400 invalid_text``
  instead of reaching a query (psycopg refuses NUL in text: a 500 before).

Both answer with the API's error body (:mod:`api.errors`) and never echo the request's values.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request before it gets here
    return None


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "body_too_large",
            f"the request body is larger than this API accepts ({self.max_bytes} bytes)",
            # The rest of the body is not read: the connection cannot carry another request.
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        refused = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, receive, send)
                    # To the application the client is gone: it stops reading and its answer
                    # (if any) is dropped below.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _is_text(raw: bytes) -> bool:
    """Percent-decoded ``raw`` is UTF-8 without NUL."""
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        return False
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def invalid_part(scope: Scope) -> str | None:
    """Which part of the request is not storable text (``path``, ``query parameter``, ``header
    <name>``), or None when all are."""
    raw_path = scope.get("raw_path")
    if (raw_path is not None and not _is_text(raw_path)) or "\x00" in scope["path"]:
        return "path"
    query: bytes = scope.get("query_string", b"")
    if query and not all(_is_text(part.replace(b"+", b" ")) for part in query.split(b"&")):
        return "query parameter"
    for name, value in scope["headers"]:
        if b"\x00" in value:
            return f"header {name.decode('latin-1')}"
    return None


class InvalidText:
    """ASGI middleware: 400 for a path, query string or header that is not storable text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            part = invalid_part(scope)
            if part is not None:
                response = error_response(
                    400,
                    "invalid_text",
                    f"the request's {part} holds a NUL character or bytes that are not UTF-8",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
