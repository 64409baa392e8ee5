"""Settings of every service: pydantic-settings, one class per service with its own env prefix.

Built in ``main()`` (never at import time). Invalid configuration stops start-up with a
:class:`~coldtrail.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import pydantic
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from coldtrail import topics
from coldtrail.errors import ConfigError

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

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url"):
            data = {**parse_mqtt_url(str(data.pop("url"))), **data}
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


class SensorSettings(BaseModel):
    """A BLE sensor the gateway listens to (``[[sensors]]`` in the gateway's TOML file)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    mac: str = Field(pattern=_MAC)
    kind: Literal["auto", "bthome", "ruuvi", "pvvx", "atc1441"] = "auto"
    bindkey: SecretStr | None = None
    """Hex key of an encrypted BTHome sensor (32 hex digits)."""
    label: str | None = None
    compartment: str | None = None

    @pydantic.field_validator("mac")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

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


class GatewaySettings(BaseSettings):
    """Environment (``COLDTRAIL_GATEWAY_...``) and, with ``--config``, a TOML file."""

    model_config = SettingsConfigDict(
        env_prefix="COLDTRAIL_GATEWAY_", env_nested_delimiter="__", extra="forbid"
    )

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
    increasing priority; ConfigError naming the file, line or field when something is wrong."""
    if config_file is None:
        return load(GatewaySettings, **overrides)
    path = Path(config_file)
    try:
        with path.open("rb") as f:
            tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None

    class FromFile(GatewaySettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
            return (init_settings, env_settings, toml, file_secret_settings)

    return load(FromFile, _source=str(path), **overrides)


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_INGEST_", env_nested_delimiter="__")

    client_id: str = "coldtrail-ingest"
    """The MQTT client id: also the name of the persistent session. Unique per worker."""
    share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    """With several ingest workers: the shared subscription group (``$share/<group>/...``) that
    splits telemetry between them (Mosquitto 2, EMQX; not the demo's amqtt broker)."""
    mqtt: MqttSettings = MqttSettings()
    database: DatabaseSettings = DatabaseSettings()
    batch_max_rows: int = Field(5_000, ge=1)
    batch_max_wait_s: float = Field(0.2, gt=0, le=10)
    migrate: bool = True
    """Apply pending schema migrations at start-up (idempotent)."""


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_API_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    database: DatabaseSettings = DatabaseSettings()
    ops_tokens: list[SecretStr] = []
    """Bearer tokens of the operations team (ops endpoints refuse every request without one)."""
    public_url: str | None = None
    """Base URL of the links the API hands out; default: the base URL of the request."""


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], _source: str | None = None, **overrides: Any) -> S:
    """Build settings from the environment (plus overrides), or raise ConfigError naming the field.

    ``DATABASE_URL`` fills ``database.url`` when the service's own variable is not set.
    """
    import os

    if "database" in cls.model_fields and "DATABASE_URL" in os.environ:
        prefix = str(cls.model_config.get("env_prefix", ""))
        if f"{prefix}DATABASE__URL" not in os.environ:
            database = dict(overrides.get("database", {}))
            database.setdefault("url", os.environ["DATABASE_URL"])
            overrides["database"] = database
    try:
        return cls(**overrides)
    except pydantic.ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = "; ".join(_describe(err, prefix, _source) for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(
            f"invalid configuration: {exc}{cause} (lists and nested values are JSON,"
            " e.g. COLDTRAIL_GATEWAY_SOURCES='[\"sim:vehicle=van-1\"]')"
        ) from None


def _describe(err: Any, prefix: str, source: str | None) -> str:
    loc = [str(p) for p in err["loc"]]
    env = f"{prefix}{'__'.join(loc).upper()}"
    if source is None:
        return f"{env}: {err['msg']}"
    dotted = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".")
    return f"{dotted} (in {source} or {env}): {err['msg']}"
