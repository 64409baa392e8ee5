"""The one sanity check every decoder test applies to what a decoder returns (after traccar)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import get_args

from coldtrail.schema import EventKind
from firmware_bridge.frames import EventSample, FixSample, Sample, StateSample

MAX_AHEAD = timedelta(hours=25)


MAX_LUX = 200_000  # direct sunlight is about 100,000 lux; BTHome's illuminance tops at 167,772


def assert_plausible(sample: Sample | FixSample | EventSample | StateSample) -> None:
    """Values a real device can report: on Earth, not from the future, percentages 0-100."""
    assert sample.device_id, "no device id"
    assert sample.received_at.tzinfo is not None, "received_at must be aware"
    if sample.measured_at is not None:
        assert sample.measured_at.tzinfo is not None, "measured_at must be aware (UTC)"
        ahead = sample.measured_at - sample.received_at
        assert ahead <= MAX_AHEAD, f"measured {ahead} after it was received"
    if isinstance(sample, EventSample | StateSample):
        _assert_plausible_event(sample)
        return
    if sample.sensor_seq is not None:
        assert sample.sensor_seq >= 0, f"negative sequence number {sample.sensor_seq}"
    if isinstance(sample, FixSample):
        assert -90 <= sample.fix.lat <= 90, f"latitude {sample.fix.lat}"
        assert -180 <= sample.fix.lon <= 180, f"longitude {sample.fix.lon}"
        assert (sample.fix.lat, sample.fix.lon) != (0.0, 0.0), "position 0,0 (Null Island)"
        return
    values = sample.values
    if values.battery_pct is not None:
        assert 0 <= values.battery_pct <= 100, f"battery {values.battery_pct} %"
    if values.humidity_pct is not None:
        assert 0 <= values.humidity_pct <= 100, f"humidity {values.humidity_pct} %"
    if values.temperature_c is not None:
        assert -60 <= values.temperature_c <= 100, f"temperature {values.temperature_c} °C"
    if values.pressure_hpa is not None:
        assert 300 <= values.pressure_hpa <= 1100, f"pressure {values.pressure_hpa} hPa"
    if values.accel_g is not None:
        # the widest accelerometers in loggers (ADXL375) read ±200 g; Ruuvi's field ±32.767 g
        assert all(-200 <= axis <= 200 for axis in values.accel_g), f"accel {values.accel_g} g"
    if values.shock_g is not None:
        assert 0 <= values.shock_g <= 1000, f"shock {values.shock_g} g"
    if values.rssi_dbm is not None:
        assert -150 <= values.rssi_dbm <= 20, f"rssi {values.rssi_dbm} dBm"


_STATES = {"door": {"open", "closed"}, "light": {"light", "dark"}}


def _assert_plausible_event(event: EventSample | StateSample) -> None:
    assert event.kind in get_args(EventKind), f"event kind {event.kind!r}"
    if isinstance(event, StateSample):
        assert event.channel, "a state names its channel"
    if event.state is not None:
        assert 0 < len(event.state) <= 32, f"state {event.state!r}"
        if event.kind in _STATES:
            assert event.state in _STATES[event.kind], f"{event.kind} state {event.state!r}"
    value = event.value if isinstance(event, EventSample) else None
    if value is not None:
        assert math.isfinite(value), f"value {value}"
        if event.kind == "light":
            assert 0 <= value <= MAX_LUX, f"illuminance {value} lux"
        if event.kind == "button":
            assert value == int(value) and value >= 1, f"button number {value}"
