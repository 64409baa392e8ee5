"""The gateway's configuration file, changed by remote commands (gateway/commands.py).

:func:`edit` turns a configuration command into the new file's table (pure: a merge patch, a
sensor added or removed, a bindkey, a calibration, intervals). :class:`TomlConfigFile` writes
that table beside the file (``<file>.new``, same permissions: it holds bindkeys), loads it with
the environment and the command line's overrides exactly as ``coldtrail gateway --config``
would (so it is validated by the gateway's own settings model), and, once the running gateway
took it, renames it over the old file (an atomic replace). Until then the old file and the old
configuration stay; a candidate that is refused or fails is deleted.

The gateway id, the broker (``[mqtt]``) and the outbox cannot be changed remotely: a mistake
there would cut the gateway off from the only channel that could repair it.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import tomli_w

from coldtrail import commands
from coldtrail import settings as config
from coldtrail.errors import ConfigError
from coldtrail.settings import GatewaySettings

LOCKED = ("gateway_id", "mqtt", "outbox")
"""Settings a remote command may not change."""

AT_RESTART = ("await_stored",)
"""Settings a remote command changes in the file, that the running gateway takes only at its
next start (the result's message says so)."""


class Refused(ValueError):
    """A command that cannot apply to this configuration (the message says why)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: tables merge, ``None`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _sensor(table: dict[str, Any], mac: str) -> dict[str, Any]:
    for sensor in table.get("sensors", []):
        if isinstance(sensor, dict) and str(sensor.get("mac", "")).upper() == mac.upper():
            return sensor
    raise Refused(f"no sensor {mac.upper()} in the configuration")


def edit(table: dict[str, Any], body: commands.Body) -> dict[str, Any]:
    """The configuration table after ``body``; :class:`Refused` if it cannot apply."""
    new = copy.deepcopy(table)
    match body:
        case commands.ReplaceConfig():
            return copy.deepcopy(body.config)
        case commands.PatchConfig():
            patched: dict[str, Any] = merge_patch(new, body.config)
            return patched
        case commands.AddSensor():
            mac = str(body.sensor.get("mac", ""))
            try:
                _sensor(new, mac)
            except Refused:
                new.setdefault("sensors", []).append(copy.deepcopy(body.sensor))
                return new
            raise Refused(f"sensor {mac.upper()} is configured already (remove it first)")
        case commands.RemoveSensor():
            new["sensors"] = [s for s in new.get("sensors", []) if s is not _sensor(new, body.mac)]
        case commands.SetBindkey():
            sensor = _sensor(new, body.mac)
            if body.bindkey is None:
                sensor.pop("bindkey", None)
            else:
                sensor["bindkey"] = body.bindkey
        case commands.SetCalibration():
            sensor = _sensor(new, body.mac)
            calibration = sensor.setdefault("calibration", {})
            if body.calibration is None:
                calibration.pop(body.quantity, None)
            else:
                calibration[body.quantity] = copy.deepcopy(body.calibration)
            if not calibration:
                del sensor["calibration"]
        case commands.SetIntervals():
            for key in ("status_interval_s", "batch_max_wait_s", "stored_resend_s"):
                value = getattr(body, key)
                if value is not None:
                    new[key] = value
            if body.ble_stall_s is not None:
                new.setdefault("ble", {})["stall_s"] = body.ble_stall_s
        case _:
            raise Refused(f"{type(body).__name__} does not change the configuration")
    return new


def revision(data: bytes) -> str:
    """A configuration file's revision: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A new configuration written beside the file, validated, not in effect yet."""

    settings: GatewaySettings
    path: Path
    revision: str


class ConfigFile(Protocol):
    """The gateway's configuration as a file that commands replace (a port: tests use others)."""

    def table(self) -> dict[str, Any]: ...

    def revision(self) -> str: ...

    def prepare(self, table: dict[str, Any], running: GatewaySettings) -> Candidate:
        """Write and validate; :class:`Refused` saying why it cannot run."""
        ...

    def commit(self, candidate: Candidate) -> None:
        """Put the candidate in the file's place (atomically)."""
        ...

    def discard(self, candidate: Candidate) -> None: ...


def check_locked(new: GatewaySettings, running: GatewaySettings) -> None:
    for key in LOCKED:
        if getattr(new, key) != getattr(running, key):
            raise Refused(
                f"{key} cannot be changed by a remote command (a mistake would cut the gateway"
                " off); change it on the gateway itself"
            )


def at_restart(new: GatewaySettings, running: GatewaySettings) -> list[str]:
    """The settings changed that take effect only at the next start."""
    return [key for key in AT_RESTART if getattr(new, key) != getattr(running, key)]


class TomlConfigFile:
    """The TOML file ``coldtrail gateway --config FILE`` runs with."""

    def __init__(self, path: str | Path, overrides: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self._overrides = dict(overrides or {})

    def table(self) -> dict[str, Any]:
        with self.path.open("rb") as f:
            return tomllib.load(f)

    def revision(self) -> str:
        return revision(self.path.read_bytes())

    def prepare(self, table: dict[str, Any], running: GatewaySettings) -> Candidate:
        try:
            data = tomli_w.dumps(table).encode()
        except TypeError as exc:
            raise Refused(f"the configuration is not a TOML table: {exc}") from None
        candidate = self.path.with_name(self.path.name + ".new")
        mode = self.path.stat().st_mode & 0o777
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            settings = config.load_gateway(str(candidate), **self._overrides)
            check_locked(settings, running)
        except (ConfigError, Refused) as exc:
            candidate.unlink(missing_ok=True)
            raise Refused(str(exc).replace(str(candidate), str(self.path))) from None
        return Candidate(settings, candidate, revision(data))

    def commit(self, candidate: Candidate) -> None:
        os.replace(candidate.path, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def discard(self, candidate: Candidate) -> None:
        candidate.path.unlink(missing_ok=True)
