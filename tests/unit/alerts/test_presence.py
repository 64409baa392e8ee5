from datetime import timedelta

import pytest

from alerts.presence import GatewayOffline, SensorSilent, check_devices
from tests.unit.alerts.helpers import at

SILENT = SensorSilent(after=timedelta(minutes=15))
GATEWAY = GatewayOffline(grace=timedelta(minutes=5))


def test_a_silent_sensor_opens_one_alert_and_closes_when_heard_from() -> None:
    state, _ = SILENT.seen(SILENT.initial(), at(0))
    state, none_yet = SILENT.check(state, at(14))
    state, opened = SILENT.check(state, at(15))
    state, again = SILENT.check(state, at(40))  # still silent: nothing new
    state, closed = SILENT.seen(state, at(42))
    assert none_yet == [] and again == []
    assert [(a.kind, a.start, a.end) for a in opened + closed] == [
        ("sensor_silent", at(0), None),
        ("sensor_silent", at(0), at(42)),
    ]
    assert closed[0].duration == timedelta(minutes=42) and state.silences == 1


def test_a_late_sample_changes_nothing_and_a_never_seen_device_is_not_judged() -> None:
    state, _ = SILENT.seen(SILENT.initial(), at(10))
    assert SILENT.seen(state, at(5)) == (state, [])
    assert SILENT.check(SILENT.initial(), at(1000)) == (SILENT.initial(), [])


def test_one_alert_per_gateway_outage_after_the_grace_period() -> None:
    state, _ = GATEWAY.status(GATEWAY.initial(), "online", at(0))
    state, _ = GATEWAY.status(state, "offline", at(10))
    state, within_grace = GATEWAY.check(state, at(14))
    state, opened = GATEWAY.check(state, at(16))
    state, repeated = GATEWAY.status(state, "offline", at(20))  # a repeated status
    state, later = GATEWAY.check(state, at(30))
    state, closed = GATEWAY.status(state, "online", at(50))
    assert within_grace == repeated == later == []
    assert [(a.kind, a.start, a.end) for a in opened + closed] == [
        ("gateway_offline", at(10), None),
        ("gateway_offline", at(10), at(50)),
    ]
    assert state.outages == 1 and state.online_since == at(50)


def test_a_blip_shorter_than_the_grace_raises_nothing_and_stale_statuses_are_ignored() -> None:
    state, _ = GATEWAY.status(GATEWAY.initial(), "offline", at(0))
    state, blip = GATEWAY.status(state, "online", at(3))
    assert blip == [] and state.outages == 0
    assert GATEWAY.status(state, "offline", at(1)) == (state, [])  # older than the last change


def test_an_outage_seen_only_from_its_transitions_is_raised_closed() -> None:
    # A replay, or a runner that did not check during the outage.
    state, _ = GATEWAY.status(GATEWAY.initial(), "offline", at(0))
    state, alerts = GATEWAY.status(state, "online", at(60))
    ((closed),) = alerts
    assert (closed.start, closed.end, closed.duration) == (at(0), at(60), timedelta(hours=1))


def test_a_gateway_outage_gives_one_gateway_alert_not_one_per_sensor() -> None:
    devices = {f"tag-{i}": SILENT.seen(SILENT.initial(), at(9))[0] for i in range(20)}
    gateway, _ = GATEWAY.status(GATEWAY.initial(), "online", at(0))
    gateway, _ = GATEWAY.status(gateway, "offline", at(10))
    alerts = []
    for minute in range(10, 61):  # the runner's timer, every minute during the outage
        gateway, gw_alerts = GATEWAY.check(gateway, at(minute))
        devices, silent_alerts = check_devices(SILENT, devices, gateway, at(minute))
        alerts += gw_alerts + [alert for _, alert in silent_alerts]
    assert [(a.kind, a.start) for a in alerts] == [("gateway_offline", at(10))]

    # Back at 61: the sensors get `after` from its return to be heard from (the outbox drains).
    gateway, _ = GATEWAY.status(gateway, "online", at(61))
    for device_id in list(devices)[:19]:
        devices[device_id], _ = SILENT.seen(devices[device_id], at(62))
    devices, early = check_devices(SILENT, devices, gateway, at(70))
    devices, late = check_devices(SILENT, devices, gateway, at(76))
    assert early == []
    assert [(device, a.kind, a.start) for device, a in late] == [
        ("tag-19", "sensor_silent", at(9))  # the one still silent 15 min after the return
    ]


def test_without_an_outage_the_silent_checks_run_as_usual() -> None:
    devices = {"a": SILENT.seen(SILENT.initial(), at(0))[0], "b": SILENT.initial()}
    gateway, _ = GATEWAY.status(GATEWAY.initial(), "online", at(-600))
    devices, alerts = check_devices(SILENT, devices, gateway, at(20))
    assert [(device, a.start) for device, a in alerts] == [("a", at(0))]
    assert devices["a"].alerted and not devices["b"].alerted


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="after"):
        SensorSilent(after=timedelta(0))
    with pytest.raises(ValueError, match="grace"):
        GatewayOffline(grace=timedelta(minutes=-1))
