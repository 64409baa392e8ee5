from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldtrail import schema
from coldtrail.errors import InvalidMessage

NOW = datetime(2026, 11, 23, 13, 0, 0, tzinfo=UTC)


def batch(**overrides: object) -> schema.TelemetryBatch:
    reading = schema.reading(
        schema.Measurements(temperature_c=4.25, humidity_pct=61.5, battery_pct=96),
        device_id="A4:C1:38:12:34:56",
        received_at=NOW,
        seq=17,
        seq_source="sensor",
    )
    position = schema.position(
        schema.Fix(lat=45.76, lon=4.84, speed_kmh=36.0, hdop=0.9, fix_quality=1, satellites=9),
        device_id="GPS-VAN-1",
        measured_at=NOW,
        received_at=NOW,
        seq=3,
        seq_source="gateway",
    )
    event = schema.Event(
        device_id="DOOR-1", kind="door", state="open", received_at=NOW, seq=1, seq_source="gateway"
    )
    fields: dict[str, object] = {
        "gateway_id": "gw-van-1",
        "sent_at": NOW,
        "readings": [reading],
        "positions": [position],
        "events": [event],
    }
    fields.update(overrides)
    return schema.TelemetryBatch(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    original = batch()
    payload = schema.encode(original)
    assert b'"v":1' in payload
    assert schema.decode_batch(payload) == original


def test_unknown_version_is_invalid_not_a_crash() -> None:
    payload = schema.encode(batch()).replace(b'"v":1', b'"v":2')
    with pytest.raises(InvalidMessage, match="unsupported contract version 2"):
        schema.decode_batch(payload)


def test_a_version_first_is_not_taken_on_trust() -> None:
    # The usual payload begins with '{"v":1,' and is parsed once; a second "v" is still refused.
    payload = schema.encode(batch())
    assert payload.startswith(b'{"v":1,')
    assert schema.decode_batch(payload) == batch()
    with pytest.raises(InvalidMessage, match=r"\$\.v"):
        schema.decode_batch(payload.replace(b'{"v":1,', b'{"v":1,"v":2,', 1))
    with pytest.raises(InvalidMessage, match="unsupported contract version 2"):
        schema.decode_batch(payload.replace(b'{"v":1,', b'{"v":2,', 1))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"garbage", "not a JSON object"),
        (b"[1,2]", "not a JSON object"),
        (b'{"gateway_id":"x"}', "no contract version"),
        (b'{"v":1,"gateway_id":"x","sent_at":"2026-11-23T13:00:00Z"}', "at least one reading"),
        (b'{"v":1,"gateway_id":"x","sent_at":"2026-11-23T13:00:00"}', "timezone"),
    ],
)
def test_invalid_payloads_say_why(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason) as info:
        schema.decode_batch(payload)
    assert info.value.payload == payload


@pytest.mark.parametrize(
    ("needle", "replacement", "where"),
    [
        (b'"temperature_c":4.25', b'"temperature_c":"cold"', "temperature_c"),
        (b'"lat":45.76', b'"lat":91.0', "lat"),
        (b'"humidity_pct":61.5', b'"humidity_pct":-1', "humidity_pct"),
        (b'"seq":17', b'"seq":-1', "seq"),
        (b'"kind":"door"', b'"kind":"teleport"', "kind"),
        (b'"gateway_id":"gw-van-1"', b'"gateway_id":"a/b"', "gateway_id"),
    ],
)
def test_field_errors_name_the_field(needle: bytes, replacement: bytes, where: str) -> None:
    payload = schema.encode(batch())
    assert needle in payload
    with pytest.raises(InvalidMessage, match=where):
        schema.decode_batch(payload.replace(needle, replacement))


@pytest.mark.parametrize(
    ("needle", "bad_id", "where"),
    [
        (b"A4:C1:38:12:34:56", b"A4 C1", "$.readings[0].device_id"),
        (b"GPS-VAN-1", b"gps/1", "$.positions[0].device_id"),
        (b"DOOR-1", b"door#1", "$.events[0].device_id"),
        (b"DOOR-1", b"door+", "$.events[0].device_id"),
        (b"A4:C1:38:12:34:56", b"A4:C1\\n", "$.readings[0].device_id"),
    ],
)
def test_a_device_id_a_topic_cannot_carry_is_refused_with_its_place(
    needle: bytes, bad_id: bytes, where: str
) -> None:
    payload = schema.encode(batch()).replace(b'"' + needle + b'"', b'"' + bad_id + b'"')
    with pytest.raises(InvalidMessage) as info:
        schema.decode_batch(payload)
    assert info.value.reason == (
        "Expected `str` matching regex '^[^\\\\s/+#]+$' - at `" + where + "`"
    )


def test_a_bad_device_id_is_found_among_many_readings() -> None:
    good = batch().readings[0]
    readings = [msgspec.structs.replace(good, seq=n) for n in range(300)]
    readings[217] = msgspec.structs.replace(good, device_id="two words", seq=217)
    with pytest.raises(InvalidMessage, match=r"\$\.readings\[217\]\.device_id"):
        schema.decode_batch(schema.encode(batch(readings=readings)))
    with pytest.raises(ValueError, match="device_id"):
        schema.validate(readings[217])


def test_unknown_fields_are_refused() -> None:
    payload = schema.encode(batch()).replace(
        b'"temperature_c"', b'"temperature_f":1,"temperature_c"'
    )
    with pytest.raises(InvalidMessage, match="temperature_f"):
        schema.decode_batch(payload)


def test_a_reading_without_measurements_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one measurement"):
        schema.Measurements()


def test_status_and_deadletter_round_trip() -> None:
    status = schema.GatewayStatus(gateway_id="gw-1", state="online", at=NOW, pending=3)
    assert schema.decode_status(schema.encode(status)) == status
    letter = schema.GatewayDeadLetter(
        gateway_id="gw-1", source="GPS-1", received_at=NOW, raw_hex="00ff", reason="bad checksum"
    )
    assert schema.decode_deadletter(schema.encode(letter)) == letter


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_invalid_message(data: bytes) -> None:
    try:
        schema.decode_batch(data)
    except InvalidMessage:
        pass


@given(
    temperature=st.floats(-100, 200, allow_nan=False),
    humidity=st.floats(0, 100, allow_nan=False),
    seq=st.integers(0, 2**63 - 1),
)
def test_decode_encode_round_trip(temperature: float, humidity: float, seq: int) -> None:
    reading = schema.reading(
        schema.Measurements(temperature_c=temperature, humidity_pct=humidity),
        device_id="dev-1",
        received_at=NOW,
        seq=seq,
        seq_source="gateway",
    )
    original = schema.TelemetryBatch(gateway_id="gw", sent_at=NOW, readings=[reading])
    assert schema.decode_batch(schema.encode(original)) == original


def test_to_builtins_gives_json_types() -> None:
    out = schema.to_builtins(schema.GatewayStatus(gateway_id="gw", state="offline", pending=2))
    assert out["gateway_id"] == "gw" and out["pending"] == 2 and out["alarms"] == []
    assert msgspec.json.decode(msgspec.json.encode(out)) == out


def test_the_last_will_is_a_minimal_status() -> None:
    will = schema.decode_status(b'{"v":1,"gateway_id":"gw-1","state":"offline"}')
    assert (will.state, will.at, will.sensors) == ("offline", None, {})


def test_deeply_nested_json_is_invalid_not_a_crash() -> None:
    header = b'{"v":1,"gateway_id":"g1","sent_at":"2026-01-01T00:00:00Z","readings":'
    payload = header + b"[" * 2000 + b"]" * 2000 + b"}"
    with pytest.raises(InvalidMessage):
        schema.decode_batch(payload)
    with pytest.raises(InvalidMessage):
        schema.decode_status(b'{"v":1,"sources":' + b"[" * 3000 + b"]" * 3000 + b"}")
