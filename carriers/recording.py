"""A local HTTP server that stands in for the carriers (tests, the benchmark, a demo): it serves
recorded responses, found by a tracking number that appears in the request's path, query or
body, under ``/<carrier>/…`` (so ``COLDTRAIL_CARRIER_<NAME>_URL=http://127.0.0.1:PORT/<name>``).

Each (carrier, number) has a script of answers, served in order, the last one repeated; every
request is counted with its time, per carrier. A real server on a real socket: the poller's
HTTP client, limits and retries run as they do against a carrier."""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

_TOKEN = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def content_type(body: bytes) -> str:
    return "text/xml; charset=utf-8" if body.lstrip().startswith(b"<") else "application/json"


class RecordingServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._scripts: dict[tuple[str, str], list[Answer]] = {}
        self._lock = threading.Lock()
        self.requests: dict[str, list[float]] = defaultdict(list)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = server.answer(self.path, body)
                self.send_response(answer.status)
                self.send_header("Content-Type", content_type(answer.body))
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # a poll cycle opens many connections at once

        self._http = Server((host, port), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, carrier: str) -> str:
        return f"{self.base}/{carrier}"

    def serve(self, carrier: str, number: str, *answers: Answer) -> None:
        with self._lock:
            self._scripts[(carrier, number)] = list(answers)

    def serve_file(self, carrier: str, number: str, path: Path, status: int = 200) -> None:
        self.serve(carrier, number, Answer(status, path.read_bytes()))

    def answer(self, path: str, body: bytes) -> Answer:
        carrier = path.lstrip("/").split("/", 1)[0]
        with self._lock:
            self.requests[carrier].append(time.monotonic())
            for token in _TOKEN.findall(unquote(path) + " " + body.decode("utf-8", "replace")):
                script = self._scripts.get((carrier, token))
                if script:
                    return script.pop(0) if len(script) > 1 else script[0]
        return Answer(404, b'{"title": "Not Found", "status": 404, "detail": "no recording"}')

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
