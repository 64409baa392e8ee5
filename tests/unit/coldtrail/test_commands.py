"""The command contract: every kind's body, clear refusals, secrets hidden."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from coldtrail import commands, settings, topics
from coldtrail.errors import InvalidMessage

GW = "van-7"
MAC = "A4:C1:38:00:00:01"
KEY = "231d39c1d7cc1ab1aee224cd096db932"


def payload(kind: str, body: object, **extra: object) -> bytes:
    return msgspec.json.encode(
        {"v": 1, "id": str(uuid.uuid4()), "gateway_id": GW, "kind": kind, "body": body, **extra}
    )


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("replace_config", {"config": {"gateway_id": GW, "sensors": [{"mac": MAC}]}}),
        ("patch_config", {"config": {"status_interval_s": 10, "ble": None}}),
        ("add_sensor", {"sensor": {"mac": MAC, "kind": "bthome", "label": "fridge"}}),
        ("remove_sensor", {"mac": MAC}),
        ("set_bindkey", {"mac": MAC, "bindkey": KEY}),
        ("set_bindkey", {"mac": MAC, "bindkey": None}),
        (
            "set_calibration",
            {"mac": MAC, "quantity": "temperature_c", "calibration": {"offset": -0.5}},
        ),
        ("set_calibration", {"mac": MAC, "quantity": "humidity_pct", "calibration": None}),
        ("set_intervals", {"status_interval_s": 60, "ble_stall_s": 30}),
        ("status", {}),
        ("restart", {}),
    ],
)
def test_every_kind_decodes_with_its_body(kind: str, body: object) -> None:
    command = commands.decode_command(payload(kind, body))
    assert command.kind == kind
    assert isinstance(commands.body(command.kind, command.body), commands.BODIES[command.kind])
    assert commands.decode_command(commands.encode(command)) == command


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "command is not JSON"),
        (payload("reboot_now", {}), "Invalid enum value 'reboot_now' - at `$.kind`"),
        (payload("remove_sensor", {"mac": "fridge"}), "at `$.mac`"),
        (payload("add_sensor", {"sensor": {"mac": MAC, "kind": "toaster"}}), "sensor.kind"),
        (payload("set_bindkey", {"mac": MAC, "bindkey": "abc"}), "32 hexadecimal digits"),
        (
            payload(
                "set_calibration",
                {"mac": MAC, "quantity": "temperature_c", "calibration": {"offset": 99}},
            ),
            "calibration.offset: Expected `float` <= 20",
        ),
        (payload("set_intervals", {}), "needs at least one of"),
        (payload("replace_config", {"config": {"batch_max_items": 0}}), "config.batch_max_items"),
        (payload("status", {"now": True}), "unknown field `now`"),
    ],
)
def test_bad_commands_are_refused_saying_why(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        commands.decode_command(raw)
    assert reason in caught.value.reason


def test_a_refusal_never_repeats_the_bindkey() -> None:
    with pytest.raises(InvalidMessage) as caught:
        commands.decode_command(
            payload("add_sensor", {"sensor": {"mac": MAC, "bindkey": KEY[:-1] + "z"}})
        )
    assert KEY[:-1] not in caught.value.reason


def test_the_id_of_a_command_with_a_bad_body_is_still_found() -> None:
    command_id = uuid.uuid4()
    raw = msgspec.json.encode({"id": str(command_id), "kind": "nonsense"})
    assert commands.command_id(raw) == command_id
    assert commands.command_id(b"\xff") is None


def test_redacted_hides_bindkeys_and_passwords_at_any_depth() -> None:
    body = {"config": {"sensors": [{"mac": MAC, "bindkey": KEY}], "mqtt": {"password": "pw"}}}
    shown = commands.redacted(body)
    assert shown == {
        "config": {"sensors": [{"mac": MAC, "bindkey": "***"}], "mqtt": {"password": "***"}}
    }
    assert KEY not in str(shown)


def test_a_result_round_trips() -> None:
    result = commands.result(
        uuid.uuid4(), GW, "refused", "no sensor X", datetime.now(UTC), config_revision="ab" * 8
    )
    assert commands.decode_result(commands.encode(result)) == result
    with pytest.raises(InvalidMessage, match="outcome"):
        commands.decode_result(commands.encode(result).replace(b"refused", b"maybe"))


def test_the_result_topic() -> None:
    assert topics.cmdresult(GW) == "coldtrail/v1/van-7/cmdresult"
    assert topics.parse(topics.cmdresult(GW, "t/x")).channel == "cmdresult"
    assert topics.subscription("cmdresult") == "coldtrail/v1/+/cmdresult"


def test_a_configuration_is_checked_as_given_not_with_this_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_BATCH_MAX_ITEMS", "0")  # e.g. the API's host
    assert commands.check("replace_config", {"config": {"gateway_id": GW}})
    monkeypatch.delenv("COLDTRAIL_GATEWAY_BATCH_MAX_ITEMS")
    with pytest.raises(ValueError, match=r"config\.gateway_id"):
        commands.check("replace_config", {"config": {"gateway_id": "two words"}})


def test_checking_a_configuration_leaves_the_body_as_sent() -> None:
    body = {"config": {"gateway_id": GW, "mqtt": {"url": "mqtt://broker.example:1883"}}}
    sent = copy.deepcopy(body)
    commands.check("replace_config", body)
    assert body == sent


def test_mqtt_settings_from_a_url_leave_their_input_as_it_was() -> None:
    table = {"url": "mqtt://gw:secret@broker.example:8883", "topic_prefix": "t"}
    mqtt = settings.MqttSettings.from_table(table)
    assert (mqtt.host, mqtt.port, mqtt.username) == ("broker.example", 8883, "gw")
    assert table == {"url": "mqtt://gw:secret@broker.example:8883", "topic_prefix": "t"}


def test_redacted_hides_the_password_of_a_url() -> None:
    body = {"config": {"mqtt": {"url": "mqtt://gw-7:s3cr%40t@broker.example:8883"}}}
    assert commands.redacted(body) == {
        "config": {"mqtt": {"url": "mqtt://gw-7:***@broker.example:8883"}}
    }
    assert commands.redacted("mqtts://broker.example:8883") == "mqtts://broker.example:8883"
