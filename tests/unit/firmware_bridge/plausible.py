"""The one sanity check every decoder test applies to what a decoder returns (after traccar)."""

from __future__ import annotations

from datetime import timedelta

from firmware_bridge.frames import FixSample, Sample

MAX_AHEAD = timedelta(hours=25)


def assert_plausible(sample: Sample | FixSample) -> None:
    """Values a real device can report: on Earth, not from the future, percentages 0-100."""
    assert sample.device_id, "no device id"
    assert sample.received_at.tzinfo is not None, "received_at must be aware"
    if sample.measured_at is not None:
        assert sample.measured_at.tzinfo is not None, "measured_at must be aware (UTC)"
        ahead = sample.measured_at - sample.received_at
        assert ahead <= MAX_AHEAD, f"measured {ahead} after it was received"
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
