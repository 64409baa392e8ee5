"""Request bounds of the whole API against a real PostgreSQL: bodies over the limit are refused
before authentication reads them (a real uvicorn, over a raw socket), the largest valid checkpoint
batch fits the default limit, and text that PostgreSQL cannot store (NUL) in any GET route's
path or query parameters is a 400, never a 500."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.api.conftest import OPS, api_settings, running
from tests.integration.api.sse import serve

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024


async def exchange(base: str, head: bytes, chunks: list[bytes] | None = None) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers), then ``chunks`` while reading the answer; the
    answer's status and body. The server may close (even reset) the connection once it refused
    the body: what it answered before that is what counts."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)

    async def upload() -> None:
        try:
            for chunk in chunks or ():
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass  # refused and closed: the rest is never read

    raw = b""
    sending = asyncio.create_task(upload())
    try:
        writer.write(head)
        async with asyncio.timeout(10):
            while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
                try:
                    data = await reader.read(65536)
                except ConnectionError:
                    break
                if not data:
                    break
                raw += data
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
    status = int(raw.split(b" ", 2)[1])
    return status, raw.partition(b"\r\n\r\n")[2]


def error_code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


async def test_a_large_body_is_refused_before_authentication(migrated_url: str) -> None:
    async with serve(api_settings(migrated_url, max_body_bytes=LIMIT)) as base:
        # 100 MB announced, unauthenticated: refused at once, no byte of the body sent.
        head = (
            b"POST /v1/shipments HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        status, body = await exchange(base, head)
        assert (status, error_code(body)) == (413, "body_too_large")

        # The same without a length (chunked): cut once the limit is passed.
        head = (
            b"POST /v1/shipments HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 8192
        framed = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (100 * 1024 * 1024 // len(chunk))
        status, body = await exchange(base, head, framed)
        assert (status, error_code(body)) == (413, "body_too_large")

        # Within the limit the request goes on to authentication as before.
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.post("/v1/shipments", content=b"{}" + b" " * (LIMIT - 2))
            assert response.status_code == 401
            response = await client.post("/v1/shipments", content=b" " * (LIMIT + 1), headers=OPS)
            assert response.status_code == 413


def largest_checkpoint(i: int) -> dict[str, Any]:
    """A checkpoint with every text field at its longest (ASCII)."""
    return {
        "tracking_number": f"TN-{i:05d}".ljust(64, "0"),
        "source": "c" * 64,
        "external_id": f"{i:06d}".ljust(128, "e"),
        "time": datetime(2026, 11, 2, 8, 0, 0, 123456, tzinfo=UTC).isoformat(),
        "status": "AvailableForPickup",
        "sub_status": "s" * 64,
        "message": "m" * 500,
        "location": "l" * 200,
        "lat": -45.123456789012,
        "lon": -120.12345678901,
    }


async def test_the_largest_checkpoint_batch_fits_the_default_limit(migrated_url: str) -> None:
    settings = api_settings(migrated_url)
    batch = [largest_checkpoint(i) for i in range(500)]  # the most a batch may hold
    body = json.dumps(batch).encode()
    assert len(body) < settings.max_body_bytes
    async with running(settings) as client:
        response = await client.post(
            "/v1/checkpoints",
            content=body,
            headers={**OPS, "Content-Type": "application/json"},
        )
    assert response.status_code == 207, response.text
    assert response.json()["failed"] == 500  # unknown tracking numbers, each with its result


def _string_parameters(openapi: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path template, parameter location, name) of every GET route's string parameters."""
    found = []
    for path, methods in openapi["paths"].items():
        operation = methods.get("get")
        if operation is None:
            continue
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            types |= {schema.get("items", {}).get("type")}
            if "string" in types and parameter["in"] in ("path", "query"):
                found.append((path, parameter["in"], parameter["name"]))
    return found


async def test_a_nul_in_any_parameter_is_a_400(migrated_url: str) -> None:
    async with running(api_settings(migrated_url)) as client:
        openapi = (await client.get("/openapi.json")).json()
        parameters = _string_parameters(openapi)
        assert len(parameters) > 20  # the walk below covers the API, not an empty list
        for path, where, name in parameters:
            url = re.sub(r"\{[^}]+\}", "x", path)
            if where == "path":
                url = path.replace("{" + name + "}", "a%00b")
                url = re.sub(r"\{[^}]+\}", "x", url)
            else:
                url = f"{url}?{name}=a%00b"
            for headers in ({}, OPS):
                response = await client.get(url, headers=headers)
                assert response.status_code == 400, (url, response.status_code, response.text)
                assert response.json()["error"]["code"] == "invalid_text"
        # A JSON body is validated by its model: 422 naming the field.
        response = await client.post(
            "/v1/vehicles", json={"vehicle_id": "v", "name": "a\x00"}, headers=OPS
        )
        assert response.status_code == 422


async def test_a_nul_in_a_header_is_a_400_from_a_real_server(migrated_url: str) -> None:
    async with serve(api_settings(migrated_url)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            response = await client.get("/v1/devices?gateway_id=a%00b", headers=OPS)
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "invalid_text"
            response = await client.get("/v1/devices?gateway_id=caf%C3%A9", headers=OPS)
            assert response.status_code == 200, response.text
