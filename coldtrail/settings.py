"""Settings of every service, one class per service with its own env prefix.

Built in ``main()`` (never at import time). Invalid configuration stops start-up with a
:class:`~coldtrail.errors.ConfigError` naming the field. The gateway's are msgspec Structs
(:mod:`coldtrail.gateway_settings`, re-exported here), read by :func:`load_gateway` without
pydantic, which a gateway does not load; the services' are pydantic-settings classes in
:mod:`coldtrail.service_settings`, re-exported here on first use.
"""

from __future__ import annotations

import json
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from coldtrail.errors import ConfigError
from coldtrail.gateway_settings import BleSettings as BleSettings
from coldtrail.gateway_settings import CalibrationSettings as CalibrationSettings
from coldtrail.gateway_settings import FieldError as FieldError
from coldtrail.gateway_settings import GatewaySettings as GatewaySettings
from coldtrail.gateway_settings import MqttSettings as MqttSettings
from coldtrail.gateway_settings import OutboxSettings as OutboxSettings
from coldtrail.gateway_settings import Secret as Secret
from coldtrail.gateway_settings import SensorSettings as SensorSettings
from coldtrail.gateway_settings import SerialPortSettings as SerialPortSettings
from coldtrail.gateway_settings import Settings as Settings
from coldtrail.gateway_settings import convert as convert
from coldtrail.gateway_settings import parse_mqtt_url as parse_mqtt_url


def load_gateway(config_file: str | None = None, **overrides: Any) -> GatewaySettings:
    """Gateway settings from its TOML file (if any), the environment and overrides, in
    increasing priority; ConfigError naming the file, line or field when something is wrong.

    Tables are merged key by key across the three; the environment's names are the prefix
    ``COLDTRAIL_GATEWAY_``, then the keys joined by ``__`` (``COLDTRAIL_GATEWAY_MQTT__PORT``),
    case-insensitive; a list or a table given whole is JSON (docs/gateway.md)."""
    values: dict[str, Any] = {}
    source = None
    if config_file is not None:
        path = Path(config_file)
        try:
            with path.open("rb") as f:
                values = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the configuration file {path}: {exc.strerror}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        source = str(path)
    prefix = GatewaySettings.ENV_PREFIX
    _merge(values, environment_values(GatewaySettings, prefix, os.environ))
    _merge(values, overrides)
    try:
        return convert(values, GatewaySettings)
    except FieldError as exc:
        problems = "; ".join(describe_error(err, prefix, source) for err in exc.problems())
        raise ConfigError(f"invalid configuration: {problems}") from None


def environment_values(
    model: type[msgspec.Struct], prefix: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The values of ``model``'s fields in ``environ`` (as pydantic-settings reads them with
    ``env_nested_delimiter="__"``): ``PREFIX`` + field names joined by ``__``, any case; a list,
    dict or model given whole is decoded from JSON; other variables of the prefix are ignored."""
    values: dict[str, Any] = {}
    wanted = prefix.lower()
    for name, raw in sorted(environ.items()):
        if name.lower().startswith(wanted) and len(name) > len(prefix):
            path = name[len(prefix) :].lower().split("__")
            _set(values, model, path, raw, name)
    return values


def _set(
    values: dict[str, Any],
    model: type[msgspec.Struct],
    path: list[str],
    raw: str,
    name: str,
    nested_key: bool = False,
) -> None:
    field = {f.name: f.type for f in msgspec.structs.fields(model)}.get(path[0])
    if field is None:
        if nested_key:  # e.g. COLDTRAIL_GATEWAY_MQTT__URL: the table's ``prepare`` reads it
            values[path[0]] = raw
        return
    nested = _model_of(field)
    if len(path) > 1:
        if nested is None:
            return
        inner = values.setdefault(path[0], {})
        if isinstance(inner, dict):
            _set(inner, nested, path[1:], raw, name, nested_key=True)
        return
    if nested is not None or _is_complex(field):
        try:
            decoded = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(
                f"invalid configuration: {name} is not valid JSON ({exc}) (lists and nested"
                " values are JSON, e.g. COLDTRAIL_GATEWAY_SOURCES='[\"sim:vehicle=van-1\"]')"
            ) from None
        if isinstance(decoded, dict) and isinstance(values.get(path[0]), dict):
            _merge(values[path[0]], decoded)
        else:
            values[path[0]] = decoded
    else:
        values[path[0]] = raw


def _model_of(annotation: Any) -> type[msgspec.Struct] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _is_complex(annotation: Any) -> bool:
    origins = {typing.get_origin(a) for a in (annotation, *typing.get_args(annotation))}
    return bool(origins & {list, dict, tuple, set})


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    """Merge ``other`` into ``into``, table by table (``other`` wins)."""
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def describe_error(err: Any, prefix: str, source: str | None) -> str:
    """One validation error (a :class:`FieldError`, or one of a pydantic ValidationError's
    ``errors()``), named as the TOML key (with ``source``) and the variable."""
    if isinstance(err, FieldError):
        where, msg = err.loc, err.msg
    else:
        where, msg = tuple(err["loc"]), err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):  # a gateway table inside a service's settings
            return "; ".join(
                describe_error(FieldError((*where, *p.loc), p.msg), prefix, source)
                for p in cause.problems()
            )
    loc = [str(p) for p in where]
    env = f"{prefix}{'__'.join(loc).upper()}"
    if source is None:
        return f"{env}: {msg}"
    dotted = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".")
    return f"{dotted} (in {source} or {env}): {msg}"


_SERVICE_NAMES = frozenset(
    {
        "DatabaseSettings",
        "IngestSettings",
        "ApiSettings",
        "SmtpSettings",
        "NotifySettings",
        "OPS_ROLES",
        "RESERVED_OPS_USERS",
        "split_ops_token",
        "load",
    }
)

if TYPE_CHECKING:
    from coldtrail.service_settings import OPS_ROLES as OPS_ROLES
    from coldtrail.service_settings import RESERVED_OPS_USERS as RESERVED_OPS_USERS
    from coldtrail.service_settings import ApiSettings as ApiSettings
    from coldtrail.service_settings import DatabaseSettings as DatabaseSettings
    from coldtrail.service_settings import IngestSettings as IngestSettings
    from coldtrail.service_settings import NotifySettings as NotifySettings
    from coldtrail.service_settings import SmtpSettings as SmtpSettings
    from coldtrail.service_settings import load as load
    from coldtrail.service_settings import split_ops_token as split_ops_token


def __getattr__(name: str) -> Any:
    # The services' settings, imported on first use: pydantic-settings stays out of a gateway.
    if name in _SERVICE_NAMES:
        from coldtrail import service_settings

        return getattr(service_settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
