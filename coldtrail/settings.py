"""Settings of every service: pydantic-settings, one class per service with its own env prefix.

Built in ``main()`` (never at import time). Invalid configuration stops start-up with a
:class:`~coldtrail.errors.ConfigError` naming the field.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import pydantic
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from coldtrail import topics
from coldtrail.errors import ConfigError


class MqttSettings(BaseModel):
    """How to reach the broker: ``COLDTRAIL_<SERVICE>_MQTT__HOST`` etc., or ``..._MQTT__URL``."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
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
    pool_min: int = Field(1, ge=1)
    pool_max: int = Field(8, ge=1)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_GATEWAY_", env_nested_delimiter="__")

    gateway_id: str = "gateway-1"
    mqtt: MqttSettings = MqttSettings()
    sources: list[str] = []
    """Source specs ``kind:key=value,key=value``; e.g. ``sim:vehicle=van-1,seed=7``."""
    batch_max_items: int = Field(500, ge=1, le=10_000)
    batch_max_wait_s: float = Field(1.0, gt=0, le=60)
    pending_max: int = Field(200_000, ge=100)
    """How many readings the gateway keeps while the broker is away before refusing new ones."""

    @pydantic.field_validator("gateway_id")
    @classmethod
    def _check_gateway_id(cls, value: str) -> str:
        return topics.check_gateway_id(value)


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDTRAIL_INGEST_", env_nested_delimiter="__")

    client_id: str = "coldtrail-ingest"
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


def load(cls: type[S], **overrides: Any) -> S:
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
        problems = "; ".join(
            f"{prefix}{'__'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(
            f"invalid configuration: {exc}{cause} (lists and nested values are JSON,"
            " e.g. COLDTRAIL_GATEWAY_SOURCES='[\"sim:vehicle=van-1\"]')"
        ) from None


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
