"""What the services' settings share (pydantic, never loaded by a gateway): the database, and the
broker's :class:`~coldtrail.gateway_settings.MqttSettings` as pydantic reads it.

``MqttSettings`` has one definition, a msgspec Struct (the gateway's). A service's field
``mqtt: MqttField`` is validated by pydantic as a table (:class:`MqttTable`, a model: so that
pydantic-settings reads ``COLDTRAIL_INGEST_MQTT__HOST`` ... and ``..._MQTT__URL``), then
converted to the Struct, which checks every key; an ``MqttSettings`` given as is is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlsplit

import pydantic
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from coldtrail.gateway_settings import MqttSettings, convert, to_builtins

_HEX = frozenset("0123456789abcdefABCDEF")


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


class MqttTable(BaseModel):
    """The ``mqtt`` table as read (environment, keywords): its keys are checked by the Struct."""

    model_config = pydantic.ConfigDict(extra="allow")


def _to_struct(value: Any, handler: pydantic.ValidatorFunctionWrapHandler) -> MqttSettings:
    if isinstance(value, MqttSettings):
        return value
    table: MqttTable = handler(value)
    return convert(dict(table.model_extra or {}), MqttSettings)  # FieldError: a ValueError


def _serialize(value: MqttSettings, info: pydantic.SerializationInfo) -> Any:
    # JSON (the API's settings page, logs): secrets masked; Python mode keeps the Struct.
    return to_builtins(value) if info.mode_is_json() else value


if TYPE_CHECKING:
    MqttField = MqttSettings
else:
    MqttField = Annotated[
        MqttTable,
        pydantic.WrapValidator(_to_struct),
        pydantic.PlainSerializer(_serialize),
    ]


def service_config(prefix: str) -> SettingsConfigDict:
    """A service's settings: ``<prefix>MQTT__HOST`` ... in the environment; a validation
    error never repeats its input (a table's input holds its secrets)."""
    return SettingsConfigDict(
        env_prefix=prefix, env_nested_delimiter="__", hide_input_in_errors=True
    )
