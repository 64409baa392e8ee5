"""A real uvicorn server on 127.0.0.1 and a small server-sent events reader, for the live streams.

httpx's in-process transport buffers endless responses, so streams are read over real sockets.
The server runs as a task on the test's own event loop.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from coldtrail.settings import ApiSettings


@asynccontextmanager
async def serve(settings: ApiSettings, apps: list[FastAPI] | None = None) -> AsyncIterator[str]:
    """The API on a free port; yields its base URL (and appends the app to ``apps``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings)
    if apps is not None:
        apps.append(app)
    config = uvicorn.Config(
        app,
        log_level="warning",
        proxy_headers=False,  # the rate limiter's own X-Forwarded-For handling is under test
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass(frozen=True)
class Event:
    id: str | None
    event: str
    data: Any


class Stream:
    """The events of one open SSE response, parsed as they arrive (pings kept apart)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.last_id: str | None = None
        self.pings = 0
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self.closed = asyncio.Event()
        """Set when the server ended the response."""

    async def pump(self) -> None:
        try:
            await self._read()
        finally:
            self.closed.set()

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        async for line in self.response.aiter_lines():
            if line == "":
                if "data" in fields:
                    data = json.loads(fields["data"])
                    event = Event(self.last_id, fields.get("event", "message"), data)
                    if event.event == "ping":
                        self.pings += 1
                    else:
                        self._queue.put_nowait(event)
                fields = {}
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id":
                    self.last_id = value
                elif name == "data" and "data" in fields:
                    fields["data"] += "\n" + value
                else:
                    fields[name] = value

    async def take(self, n: int, timeout: float = 10.0) -> list[Event]:
        """The next ``n`` events (fails if they do not come within ``timeout``)."""
        async with asyncio.timeout(timeout):
            return [await self._queue.get() for _ in range(n)]

    async def ends(self, timeout: float = 5.0) -> None:
        """Fails unless the server ends the response within ``timeout``."""
        async with asyncio.timeout(timeout):
            await self.closed.wait()

    async def nothing_for(self, seconds: float) -> None:
        """Fails if an event arrives within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                event = await self._queue.get()
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {event}")


@asynccontextmanager
async def open_stream(
    base_url: str, path: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[Stream]:
    """GET ``path`` as a stream; the caller checks ``stream.response.status_code``. Leaving the
    block disconnects."""
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10.0)) as client:
        async with client.stream("GET", path, headers=dict(headers or {})) as response:
            stream = Stream(response)
            if response.status_code != 200:
                await response.aread()
                yield stream
                return
            task = asyncio.create_task(stream.pump())
            try:
                yield stream
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
