"""The gateway's command handling: applied once, validated by the gateway's settings, atomic,
the old configuration kept on any refusal or failure. Fakes implement the ports."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from coldtrail import schema
from coldtrail.errors import ConfigError
from coldtrail.settings import GatewaySettings, load_gateway
from gateway.command_log import MemoryCommandLog, SqliteCommandLog
from gateway.commands import CommandHandler
from gateway.config_file import TomlConfigFile, edit, merge_patch

GW = "van-7"
OLD = "A4:C1:38:00:00:01"
NEW = "A4:C1:38:00:00:02"
KEY = "231d39c1d7cc1ab1aee224cd096db932"
CONFIG = f"""\
gateway_id = "{GW}"
status_interval_s = 30

[mqtt]
host = "broker.example"

[[sensors]]
mac = "{OLD}"
label = "fridge"
"""


class RecordingTarget:
    """The running gateway: records each configuration it is given; can be made to fail."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.taken: list[GatewaySettings] = []
        self.fail_with: Exception | None = None

    async def reconfigure(self, settings: GatewaySettings) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.taken.append(settings)
        self.settings = settings

    def status(self, state: str = "online") -> schema.GatewayStatus:
        return schema.GatewayStatus(gateway_id=GW, state="online", pending=3)


def command(kind: str, body: dict[str, Any] | None = None, **extra: Any) -> bytes:
    document = {"id": str(uuid.uuid4()), "gateway_id": GW, "kind": kind, "body": body or {}}
    return msgspec.json.encode(document | extra)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    return path


@pytest.fixture
def target(config_path: Path) -> RecordingTarget:
    return RecordingTarget(load_gateway(str(config_path)))


def contents(path: Path) -> bytes:
    return path.read_bytes()


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def exists(path: Path) -> bool:
    return path.exists()


def handler(target: RecordingTarget, config_path: Path, log: Any = None) -> CommandHandler:
    return CommandHandler(target, log or MemoryCommandLog(), TomlConfigFile(config_path))


async def test_add_sensor_is_applied_to_the_file_and_the_running_gateway(
    target: RecordingTarget, config_path: Path
) -> None:
    before = contents(config_path)
    revision = TomlConfigFile(config_path).revision()
    handled = await handler(target, config_path).handle(
        command("add_sensor", {"sensor": {"mac": NEW, "kind": "bthome", "bindkey": KEY}})
    )
    assert handled.result.outcome == "applied", handled.result.message
    assert [s.mac for s in target.settings.sensors] == [OLD, NEW]
    assert [s.mac for s in load_gateway(str(config_path)).sensors] == [OLD, NEW]
    assert mode(config_path) == 0o600
    assert not exists(config_path.with_name("gateway.toml.new"))
    assert handled.result.config_revision == TomlConfigFile(config_path).revision() != revision
    assert f"revision {revision} -> " in handled.result.message
    assert "2 sensors configured" in handled.result.message
    assert KEY not in handled.result.message
    assert contents(config_path) != before


async def test_a_repeated_id_is_not_applied_again(
    target: RecordingTarget, config_path: Path
) -> None:
    h = handler(target, config_path)
    payload = command("remove_sensor", {"mac": OLD})
    first = await h.handle(payload)
    after_first = contents(config_path)
    again = await h.handle(payload)
    assert first.result.outcome == "applied"
    assert (again.result.outcome, again.result.first_outcome) == ("duplicate", "applied")
    assert again.key is None
    assert again.result.command_id == first.result.command_id
    assert "applied" in again.result.message
    assert len(target.taken) == 1
    assert contents(config_path) == after_first


async def test_applied_once_across_a_restart(
    target: RecordingTarget, config_path: Path, tmp_path: Path
) -> None:
    payload = command("set_intervals", {"status_interval_s": 5})
    log = SqliteCommandLog(tmp_path / "commands.sqlite")
    first = await handler(target, config_path, log).handle(payload)
    log.close()
    reopened = SqliteCommandLog(tmp_path / "commands.sqlite")  # the gateway started again
    assert [r for _, r in reopened.unpublished()] == [first.result]
    again = await handler(target, config_path, reopened).handle(payload)
    assert (first.result.outcome, again.result.outcome) == ("applied", "duplicate")
    assert len(target.taken) == 1
    assert target.settings.status_interval_s == 5


@pytest.mark.parametrize(
    ("kind", "body", "why"),
    [
        ("patch_config", {"config": {"batch_max_items": 0}}, "batch_max_items"),
        ("patch_config", {"config": {"mqtt": {"host": "elsewhere"}}}, "mqtt cannot be changed"),
        ("replace_config", {"config": {"gateway_id": "van-8"}}, "gateway_id cannot be changed"),
        ("add_sensor", {"sensor": {"mac": OLD.lower()}}, "configured already"),
        ("remove_sensor", {"mac": NEW}, f"no sensor {NEW}"),
        ("set_bindkey", {"mac": NEW, "bindkey": KEY}, f"no sensor {NEW}"),
        ("add_sensor", {"sensor": {"mac": NEW, "kind": "toaster"}}, "unknown kind 'toaster'"),
        ("launch", {}, "Invalid enum value 'launch'"),
    ],
)
async def test_a_bad_command_is_refused_and_the_old_configuration_stays(
    target: RecordingTarget, config_path: Path, kind: str, body: dict[str, Any], why: str
) -> None:
    before = contents(config_path)
    handled = await handler(target, config_path).handle(command(kind, body))
    assert handled.result.outcome == "refused"
    assert why in handled.result.message
    assert target.taken == []
    assert contents(config_path) == before
    assert not exists(config_path.with_name("gateway.toml.new"))


async def test_bad_json_is_refused_without_an_id(
    target: RecordingTarget, config_path: Path
) -> None:
    handled = await handler(target, config_path).handle(b'{"kind": "status", "id": ')
    assert handled.result.command_id is None
    assert handled.result.outcome == "refused"
    assert "not JSON" in handled.result.message


async def test_a_gateway_that_cannot_take_the_configuration_keeps_the_old_one(
    target: RecordingTarget, config_path: Path
) -> None:
    before = contents(config_path)
    target.fail_with = ConfigError("serial port /dev/ttyUSB9: no such device")
    handled = await handler(target, config_path).handle(
        command(
            "set_calibration",
            {"mac": OLD, "quantity": "temperature_c", "calibration": {"offset": -0.3}},
        )
    )
    assert handled.result.outcome == "failed"
    assert "/dev/ttyUSB9" in handled.result.message
    assert "previous configuration keeps running" in handled.result.message
    assert contents(config_path) == before
    assert not exists(config_path.with_name("gateway.toml.new"))


async def test_a_command_for_another_gateway_is_refused(
    target: RecordingTarget, config_path: Path
) -> None:
    handled = await handler(target, config_path).handle(command("restart", gateway_id="van-8"))
    assert (handled.result.outcome, handled.restart) == ("refused", False)
    assert "van-8" in handled.result.message


async def test_status_and_restart(target: RecordingTarget, config_path: Path) -> None:
    h = handler(target, config_path)
    status = await h.handle(command("status"))
    assert status.result.status is not None and status.result.status.pending == 3
    restart = await h.handle(command("restart"))
    assert (restart.result.outcome, restart.restart) == ("applied", True)


async def test_without_a_configuration_file_configuration_commands_are_refused(
    target: RecordingTarget,
) -> None:
    h = CommandHandler(target, MemoryCommandLog(), None)
    handled = await h.handle(command("remove_sensor", {"mac": OLD}))
    assert handled.result.outcome == "refused"
    assert "without a configuration file" in handled.result.message
    assert handled.result.config_revision is None


def test_merge_patch_merges_tables_removes_nulls_and_replaces_lists() -> None:
    table = {"ble": {"mode": "auto", "stall_s": 60}, "sensors": [{"mac": OLD}], "x": 1}
    patched = merge_patch(table, {"ble": {"mode": None, "stall_s": 30}, "sensors": [], "x": None})
    assert patched == {"ble": {"stall_s": 30}, "sensors": []}
    assert table["ble"] == {"mode": "auto", "stall_s": 60}


def test_edit_sets_and_removes_a_calibration() -> None:
    from coldtrail import commands

    table = {"sensors": [{"mac": OLD}]}
    body = commands.body(
        "set_calibration",
        {"mac": OLD.lower(), "quantity": "temperature_c", "calibration": {"offset": 0.2}},
    )
    calibrated = edit(table, body)
    assert calibrated["sensors"][0]["calibration"] == {"temperature_c": {"offset": 0.2}}
    cleared = edit(
        calibrated,
        commands.body(
            "set_calibration", {"mac": OLD, "quantity": "temperature_c", "calibration": None}
        ),
    )
    assert cleared == table


async def test_replace_config_with_a_broker_url_applies_on_a_gateway_configured_by_url(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.replace('host = "broker.example"', 'url = "mqtt://broker.example"'))
    target = RecordingTarget(load_gateway(str(path)))
    table = tomllib.loads(path.read_text())
    table["status_interval_s"] = 60
    handled = await handler(target, path).handle(command("replace_config", {"config": table}))
    assert handled.result.outcome == "applied", handled.result.message
    assert target.settings.status_interval_s == 60
    assert tomllib.loads(path.read_text())["mqtt"] == {"url": "mqtt://broker.example"}


class CrashingLog(SqliteCommandLog):
    """A gateway that dies after the file was replaced, before the result is recorded."""

    def record(self, result: Any) -> str:
        raise SystemExit("power cut")


async def test_a_command_delivered_again_after_a_crash_is_applied_not_applied_twice(
    target: RecordingTarget, config_path: Path, tmp_path: Path
) -> None:
    payload = command("add_sensor", {"sensor": {"mac": NEW, "kind": "bthome"}})
    crashing = CrashingLog(tmp_path / "commands.sqlite")
    with pytest.raises(SystemExit):
        await handler(target, config_path, crashing).handle(payload)
    crashing.close()
    applied = contents(config_path)
    restarted = RecordingTarget(load_gateway(str(config_path)))  # systemd starts it again
    log = SqliteCommandLog(tmp_path / "commands.sqlite")
    again = await handler(restarted, config_path, log).handle(payload)
    assert again.result.outcome == "applied", again.result.message
    assert again.result.config_revision == TomlConfigFile(config_path).revision()
    assert restarted.taken == []
    assert contents(config_path) == applied
    assert log.get(uuid.UUID(msgspec.json.decode(payload)["id"])) == again.result


async def test_a_command_whose_file_was_not_replaced_before_a_crash_is_applied(
    target: RecordingTarget, config_path: Path, tmp_path: Path
) -> None:
    payload = command("set_intervals", {"status_interval_s": 5})
    log = SqliteCommandLog(tmp_path / "commands.sqlite")
    log.begin(uuid.UUID(msgspec.json.decode(payload)["id"]), "0123456789abcdef")  # then died
    handled = await handler(target, config_path, log).handle(payload)
    assert handled.result.outcome == "applied"
    assert target.settings.status_interval_s == 5


async def test_a_setting_taken_only_at_a_restart_is_applied_saying_so(
    target: RecordingTarget, config_path: Path
) -> None:
    handled = await handler(target, config_path).handle(
        command("patch_config", {"config": {"await_stored": False}})
    )
    assert handled.result.outcome == "applied"
    assert "await_stored takes effect at the next restart" in handled.result.message
    assert load_gateway(str(config_path)).await_stored is False
    plain = await handler(target, config_path).handle(
        command("patch_config", {"config": {"status_interval_s": 12}})
    )
    assert "restart" not in plain.result.message
