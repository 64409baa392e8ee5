"""The gateway reads its environment without pydantic-settings (``settings.load_gateway``); these
tests hold it to what pydantic-settings reads from the same variables: a ``BaseSettings`` twin
with ``GatewaySettings``' fields (its tables as models, so that nested variables are read into
them; its lists and dicts as JSON), whose reading is then checked by ``GatewaySettings``."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import msgspec
import pydantic
import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from coldtrail.errors import ConfigError
from coldtrail.settings import GatewaySettings, load_gateway


class _Table(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")


def _as_read(kind: Any) -> Any:
    """How pydantic-settings sees a field: a table, a JSON list or dict, or a string."""
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return _Table
    if typing.get_origin(kind) in (list, dict):
        return typing.get_origin(kind)
    return Any


class _Twin(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COLDTRAIL_GATEWAY_", env_nested_delimiter="__", extra="forbid"
    )


PydanticSettingsTwin = pydantic.create_model(  # type: ignore[call-overload]
    "PydanticSettingsTwin",
    __base__=_Twin,
    **{f.name: (_as_read(f.type) | None, None) for f in msgspec.structs.fields(GatewaySettings)},
)


def read_by_pydantic_settings() -> GatewaySettings:
    return GatewaySettings.from_table(PydanticSettingsTwin().model_dump(exclude_unset=True))


CASES = {
    "url": {"COLDTRAIL_GATEWAY_MQTT__URL": "mqtts://gw-1:s%40cret@broker.example:8884"},
    "nested keys, any case": {
        "coldtrail_gateway_mqtt__host": "broker.example",
        "COLDTRAIL_GATEWAY_MQTT__PORT": "8883",
        "COLDTRAIL_GATEWAY_OUTBOX__PATH": "/var/lib/coldtrail/outbox.sqlite",
        "COLDTRAIL_GATEWAY_OUTBOX__COMMIT_INTERVAL_S": "0",
    },
    "scalars": {
        "COLDTRAIL_GATEWAY_GATEWAY_ID": "gw-van-7",
        "COLDTRAIL_GATEWAY_AWAIT_STORED": "false",
        "COLDTRAIL_GATEWAY_BATCH_MAX_ITEMS": "50",
        "COLDTRAIL_GATEWAY_STATUS_FILE": "/run/coldtrail/status.json",
    },
    "JSON lists": {
        "COLDTRAIL_GATEWAY_SOURCES": '["sim:vehicle=van-1,seed=7"]',
        "COLDTRAIL_GATEWAY_SENSORS": '[{"mac": "A4:C1:38:12:34:56", "kind": "pvvx"}]',
        "COLDTRAIL_GATEWAY_SERIAL": '[{"path": "/dev/ttyUSB0", "protocol": "board"}]',
    },
    "a table whole, then one of its keys": {
        "COLDTRAIL_GATEWAY_BLE": '{"adapter": "hci1", "mode": "active"}',
        "COLDTRAIL_GATEWAY_BLE__STALL_S": "90",
    },
    "other variables of the prefix are ignored": {"COLDTRAIL_GATEWAY_NOT_A_SETTING": "1"},
}


@pytest.mark.parametrize("env", CASES.values(), ids=list(CASES))
def test_the_environment_reads_as_pydantic_settings_reads_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ours = load_gateway()
    assert ours == read_by_pydantic_settings()
    changed = ours != GatewaySettings()
    assert changed == (env is not CASES["other variables of the prefix are ignored"])


def test_the_environment_wins_over_the_file_key_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('gateway_id = "gw-file"\n[mqtt]\nhost = "broker.example"\nport = 1883\n')
    monkeypatch.setenv("COLDTRAIL_GATEWAY_MQTT__PORT", "8883")
    loaded = load_gateway(str(config), gateway_id="gw-cli")
    assert (loaded.gateway_id, loaded.mqtt.host, loaded.mqtt.port) == (
        "gw-cli",
        "broker.example",
        8883,
    )


def test_bad_json_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_SOURCES", "sim:vehicle=van-1")
    with pytest.raises(ConfigError, match="COLDTRAIL_GATEWAY_SOURCES is not valid JSON"):
        load_gateway()


def test_an_invalid_value_names_the_file_key_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("batch_max_items = 0\n")
    with pytest.raises(ConfigError, match=r"batch_max_items \(in .*COLDTRAIL_GATEWAY_BATCH_MAX_"):
        load_gateway(str(config))
