"""Splitting a message's items by whether its gateway may send for their devices."""

from datetime import UTC, datetime

from coldtrail import schema
from ingest.bindings import Binding, device_ids, split

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def reading(device_id: str, seq: int = 1) -> schema.Reading:
    return schema.reading(
        schema.Measurements(temperature_c=3.5),
        device_id=device_id,
        received_at=NOW,
        seq=seq,
        seq_source="sensor",
    )


def position(device_id: str) -> schema.Position:
    return schema.Position(
        device_id=device_id, received_at=NOW, seq=1, seq_source="gateway", lat=48.0, lon=2.0
    )


def batch(gateway_id: str, *items: schema.Reading | schema.Position) -> schema.TelemetryBatch:
    return schema.TelemetryBatch(
        gateway_id=gateway_id,
        sent_at=NOW,
        readings=[i for i in items if isinstance(i, schema.Reading)],
        positions=[i for i in items if isinstance(i, schema.Position)],
    )


BOUND = {
    "logger-B": Binding("van-B", "gw-B"),
    "gps-B": Binding("van-B", "gw-B"),
    "logger-A": Binding("van-A", "gw-A"),
    "logger-Z": Binding("van-Z", None),
}


def test_unbound_and_own_devices_are_kept_as_they_are() -> None:
    message = batch("gw-A", reading("logger-A"), reading("new-tag"), position("gps-A"))
    assert split(message, BOUND).kept is message
    assert split(message, {}).foreign is None


def test_items_of_devices_bound_elsewhere_are_split_off_with_the_reason() -> None:
    message = batch(
        "gw-A", reading("logger-A"), reading("logger-B", 7), position("gps-B"), reading("logger-Z")
    )
    part = split(message, BOUND)
    assert part.kept == batch("gw-A", reading("logger-A"))
    assert part.foreign == batch(
        "gw-A", reading("logger-B", 7), reading("logger-Z"), position("gps-B")
    )
    assert part.reason == (
        "device bound to another vehicle: 3 item(s) from gateway 'gw-A' of 'gps-B' (bound to"
        " vehicle 'van-B', gateway 'gw-B'); 'logger-B' (bound to vehicle 'van-B', gateway"
        " 'gw-B'); 'logger-Z' (bound to vehicle 'van-Z', no gateway)"
    )


def test_a_message_of_foreign_devices_only_keeps_nothing() -> None:
    part = split(batch("gw-A", reading("logger-B")), BOUND)
    assert part.kept is None and part.foreign == batch("gw-A", reading("logger-B"))


def test_device_ids_are_each_devices_once() -> None:
    messages = [batch("gw-A", reading("b"), reading("a")), batch("gw-B", position("a"))]
    assert device_ids(messages) == ["a", "b"]
