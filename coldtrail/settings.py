"""Settings of every service, one class per service with its own env prefix.

Built in ``main()`` (never at import time). Invalid configuration stops start-up with a
:class:`~coldtrail.errors.ConfigError` naming the field. The gateway's (this module) are read
without pydantic-settings, which a gateway does not load; the services' are pydantic-settings
classes in :mod:`coldtrail.service_settings`, re-exported here on first use.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import pydantic
from pydantic import BaseModel, Field, SecretStr

from coldtrail import schema, sensor_kinds, topics
from coldtrail.errors import ConfigError

_HEX = frozenset("0123456789abcdefABCDEF")

_HEX = frozenset("0123456789abcdefABCDEF")


class MqttSettings(BaseModel):
    """How to reach the broker: ``COLDTRAIL_<SERVICE>_MQTT__HOST`` etc., or ``..._MQTT__URL``."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    """A file holding the password (mode 0600), instead of ``password``."""
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    topic_prefix: str = topics.DEFAULT_PREFIX
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT version. ``5`` lets ingest announce its Receive Maximum (Mosquitto 2, EMQX); the
    demo's amqtt broker speaks 3.1.1 only."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url"):
            rest = {k: v for k, v in data.items() if k != "url"}  # never change the input
            data = {**parse_mqtt_url(str(data["url"])), **rest}
        return data

    @pydantic.field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        return topics.check_prefix(value)

    def secret(self) -> str | None:
        """The password, from ``password`` or else ``password_file``."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            return None
        try:
            return Path(self.password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the MQTT password file {self.password_file}: {exc.strerror}"
            ) from None

    def url(self) -> str:
        """The broker's address without credentials (safe to log)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> dict[str, Any]:
    """``mqtt://user:pass@host:port`` (or ``mqtts://``) -> MqttSettings fields."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {parts.scheme!r}://")
    tls = parts.scheme in ("mqtts", "ssl")
    out: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or (8883 if tls else 1883),
        "tls": tls,
    }
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password:
        out["password"] = unquote(parts.password)
    return out


class DatabaseSettings(BaseModel):
    """How to reach PostgreSQL / TimescaleDB: a libpq URL (``DATABASE_URL`` is honoured too)."""

    url: SecretStr = SecretStr("postgresql://127.0.0.1:5432/coldtrail")

    @pydantic.field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        # libpq echoes a malformed URL, password included, in its error: refuse it here,
        # without repeating it.
        text = value.get_secret_value()
        for i, char in enumerate(text):
            escape = text[i + 1 : i + 3]
            if char == "%" and (len(escape) < 2 or not all(c in _HEX for c in escape)):
                raise ValueError(
                    "has a '%' not followed by two hex digits: percent-encode special"
                    " characters of the password ('%' is %25, '@' is %40)"
                )
        return value

    def redact(self, text: str) -> str:
        """``text`` with this URL's password masked (for messages of the database driver)."""
        password = urlsplit(self.url.get_secret_value()).password
        if not password:
            return text
        for form in {password, unquote(password)}:
            text = text.replace(form, "***")
        return text

    pool_min: int = Field(1, ge=1)
    pool_max: int = Field(8, ge=1)


_MAC = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
_DEVICE_ID = r"^[^\s/+#]{1,64}$"


class CalibrationSettings(BaseModel):
    """One quantity's calibration (``[sensors.calibration.temperature_c]``): either an
    ``offset`` added to every raw value, or two ``points``, each ``[raw, reference]`` (what the
    sensor read, what the reference instrument read), which define a straight line through
    both. ``certificate`` names the calibration record it comes from."""

    model_config = pydantic.ConfigDict(extra="forbid")

    offset: float | None = Field(None, ge=-20, le=20, allow_inf_nan=False)
    points: tuple[tuple[float, float], tuple[float, float]] | None = None
    certificate: str | None = Field(None, min_length=1, max_length=64)

    @pydantic.model_validator(mode="after")
    def _one_method(self) -> CalibrationSettings:
        if (self.offset is None) == (self.points is None):
            raise ValueError(
                "give either offset = <number> or points = [[raw, reference], [raw, reference]]"
            )
        self.correction()  # the line through the points must be usable
        return self

    def correction(self) -> schema.Calibration:
        """The calibration as the readings carry it: ``value = slope * raw + offset``."""
        if self.points is None:
            return schema.Calibration(offset=self.offset or 0.0, certificate=self.certificate)
        (raw1, ref1), (raw2, ref2) = self.points
        if not all(math.isfinite(v) for v in (raw1, ref1, raw2, ref2)):
            raise ValueError("calibration points must be finite numbers")
        if abs(raw2 - raw1) < 1e-6:
            raise ValueError(
                f"the two calibration points need different raw values, not {raw1} twice"
            )
        slope = (ref2 - ref1) / (raw2 - raw1)
        if not 0.5 <= slope <= 2.0:
            raise ValueError(
                f"calibration points {self.points} give a slope of {slope:.4g}: a sensor that"
                " needs a slope outside 0.5..2 is not fit for use (check the points' order:"
                " [raw, reference])"
            )
        offset = ref1 - slope * raw1
        if not -100 <= offset <= 100:
            raise ValueError(f"calibration points {self.points} give an offset of {offset:.4g}")
        return schema.Calibration(slope=slope, offset=offset, certificate=self.certificate)


class SensorSettings(BaseModel):
    """A BLE sensor the gateway listens to (``[[sensors]]`` in the gateway's TOML file)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    mac: str = Field(pattern=_MAC)
    kind: str = sensor_kinds.AUTO
    """A kind of :data:`coldtrail.sensor_kinds.KINDS` (``bthome``, ``ruuvi``, ``inkbird``,
    ``govee``, ...), or ``auto`` (detected from each advert)."""
    bindkey: SecretStr | None = None
    """Hex key of an encrypted BTHome or Xiaomi MiBeacon sensor (32 hex digits)."""
    label: str | None = None
    compartment: str | None = None
    calibration: dict[schema.CalibratedQuantity, CalibrationSettings] = {}
    """Per quantity (temperature_c, humidity_pct, pressure_hpa): applied on the gateway, the
    raw value kept beside the corrected one (docs/gateway.md, "Calibration")."""

    def corrections(self) -> dict[schema.CalibratedQuantity, schema.Calibration]:
        return {quantity: c.correction() for quantity, c in self.calibration.items()}

    @pydantic.field_validator("mac")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @pydantic.field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        return sensor_kinds.check_config_kind(value)

    @pydantic.field_validator("bindkey")
    @classmethod
    def _check_bindkey(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            key = value.get_secret_value()
            if len(key) != 32 or any(c not in "0123456789abcdefABCDEF" for c in key):
                raise ValueError("a bindkey is 32 hexadecimal digits (16 bytes)")
        return value


class BleSettings(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    enabled: bool = True
    adapter: str = "hci0"
    mode: Literal["auto", "passive", "active"] = "auto"
    stall_s: float = Field(60.0, ge=5)
    """Restart the scanner after this long without any advert."""


class SerialPortSettings(BaseModel):
    """A serial device (``[[serial]]``): a GPS receiver (NMEA) or a sensor board."""

    model_config = pydantic.ConfigDict(extra="forbid")

    path: str
    """Prefer /dev/serial/by-id/... : it survives replugging into another USB port."""
    protocol: Literal["nmea", "board"] = "nmea"
    baud: int = Field(9600, gt=0)
    device: str | None = Field(None, pattern=_DEVICE_ID)
    """The device id reported for this port (default: derived from the path)."""


class OutboxSettings(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    path: str | None = None
    """SQLite file of the store-and-forward outbox; none = in memory (lost on restart)."""
    max_items: int = Field(2_000_000, ge=100)
    """Bound of the outbox; see docs/gateway.md for what happens when it is full."""
    commit_interval_s: float = Field(0.0, ge=0, le=5)
    """0 (default): each decoded frame's readings are committed to the disk outbox before the
    gateway reads on. Above 0 (opt-in write-behind): committed together, at most once per
    interval (one fsync per interval, not per reading), at the price of losing the readings of
    the last interval on a power cut, crash or SIGKILL."""


class GatewaySettings(BaseModel):
    """Environment (``COLDTRAIL_GATEWAY_...``) and, with ``--config``, a TOML file: built by
    :func:`load_gateway` (as pydantic-settings would, which a gateway does not load)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    ENV_PREFIX: ClassVar[str] = "COLDTRAIL_GATEWAY_"

    gateway_id: str = "gateway-1"
    mqtt: MqttSettings = MqttSettings()
    sources: list[str] = []
    """Extra source specs ``kind:key=value,key=value``; e.g. ``sim:vehicle=van-1,seed=7``."""
    sensors: list[SensorSettings] = []
    ble: BleSettings = BleSettings()
    serial: list[SerialPortSettings] = []
    outbox: OutboxSettings = OutboxSettings()
    batch_max_items: int = Field(500, ge=1, le=10_000)
    batch_max_wait_s: float = Field(1.0, gt=0, le=60)
    status_interval_s: float = Field(30.0, ge=1)
    await_stored: bool = True
    """Keep each item in the outbox until ingest acknowledges its storage (the ``stored``
    topic, docs/mqtt-contract.md), not just until the broker's PUBACK: a broker crash then
    loses nothing. Turn it off only with an ingest that sends no acknowledgements (older than
    this setting): the outbox would not drain."""
    stored_resend_s: float = Field(60.0, gt=0)
    """A message whose storage is not acknowledged this long after it was published is
    published again (the wait doubles after each resend without any acknowledgement, up to 64
    times this, and starts again at the next acknowledgement)."""
    max_awaiting_storage: int = Field(10_000, ge=1)
    """The most items published and awaiting their storage acknowledgement: the publisher
    waits when it is reached (ingest away), and what it holds is what a resend sends again."""
    status_file: str | None = None
    """Where the gateway writes its latest status for ``coldtrail gateway status``."""

    @pydantic.field_validator("gateway_id")
    @classmethod
    def _check_gateway_id(cls, value: str) -> str:
        return topics.check_gateway_id(value)

    @pydantic.model_validator(mode="after")
    def _unique(self) -> GatewaySettings:
        macs = [s.mac for s in self.sensors]
        if len(macs) != len(set(macs)):
            raise ValueError(f"a sensor MAC appears twice in sensors: {sorted(macs)}")
        paths = [p.path for p in self.serial]
        if len(paths) != len(set(paths)):
            raise ValueError(f"a serial path appears twice in serial: {sorted(paths)}")
        return self


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
        return GatewaySettings.model_validate(values)
    except pydantic.ValidationError as exc:
        problems = "; ".join(describe_error(err, prefix, source) for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None


def environment_values(
    model: type[BaseModel], prefix: str, environ: Mapping[str, str]
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
    model: type[BaseModel],
    path: list[str],
    raw: str,
    name: str,
    nested_key: bool = False,
) -> None:
    field = model.model_fields.get(path[0])
    if field is None:
        if nested_key:  # e.g. COLDTRAIL_GATEWAY_MQTT__URL: the table's validator reads it
            values[path[0]] = raw
        return
    nested = _model_of(field.annotation)
    if len(path) > 1:
        if nested is None:
            return
        inner = values.setdefault(path[0], {})
        if isinstance(inner, dict):
            _set(inner, nested, path[1:], raw, name, nested_key=True)
        return
    if nested is not None or _is_complex(field.annotation):
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


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
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
    """One validation error, named as the TOML key (with ``source``) and the variable."""
    loc = [str(p) for p in err["loc"]]
    env = f"{prefix}{'__'.join(loc).upper()}"
    if source is None:
        return f"{env}: {err['msg']}"
    dotted = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".")
    return f"{dotted} (in {source} or {env}): {err['msg']}"


_SERVICE_NAMES = frozenset(
    {
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
