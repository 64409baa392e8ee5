-- Calibrated readings (docs/mqtt-contract.md, "Calibration"): the gateway corrects a sensor's
-- value with the calibration configured for it and sends the raw value beside the corrected
-- one. temperature_c/humidity_pct/pressure_hpa stay the values every screen reads (corrected);
-- raw_* keep what the sensor sent, and calibration the correction applied, per quantity:
-- {"temperature_c": {"slope": 1.0, "offset": -0.3, "certificate": "CAL-2026-0142"}}.
-- All NULL for an uncalibrated reading (nullable columns added without a rewrite; on a
-- TimescaleDB hypertable with compression, ALTER TABLE ... ADD COLUMN of a nullable column
-- without a default is supported as well).

ALTER TABLE readings
    ADD COLUMN raw_temperature_c double precision,
    ADD COLUMN raw_humidity_pct  double precision,
    ADD COLUMN raw_pressure_hpa  double precision,
    ADD COLUMN calibration       jsonb;
