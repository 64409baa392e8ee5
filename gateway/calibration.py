"""Per-sensor calibration, applied in one place: after decoding, before the outbox.

A sensor's ``[sensors.calibration.<quantity>]`` settings (an offset, or a two-point line,
with the certificate it comes from) give one :class:`~coldtrail.schema.Calibration` per
quantity; :meth:`Calibrator.apply` returns the sample with the corrected values, the raw values
beside them (``raw``) and the calibration used (``calibration``), which the reading carries to
ingest and the reports. A relative humidity corrected past 0..100 % is held at the bound (as
sensors themselves saturate). The gateway's status lists the calibrations in effect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import msgspec

from coldtrail.schema import CalibratedQuantity, Calibration, RawValues
from coldtrail.settings import SensorSettings
from firmware_bridge.frames import Sample

DECIMALS = 4
"""Corrected values are rounded to this many decimals (sensors resolve 0.01 at best)."""
_BOUNDS: dict[CalibratedQuantity, tuple[float, float]] = {"humidity_pct": (0.0, 100.0)}

Calibrations = Mapping[str, Mapping[CalibratedQuantity, Calibration]]


def calibrations(
    sensors: Iterable[SensorSettings],
) -> dict[str, dict[CalibratedQuantity, Calibration]]:
    """Device id (the sensor's MAC, as its readings name it) -> its calibrations."""
    return {s.mac: s.corrections() for s in sensors if s.calibration}


class Calibrator:
    def __init__(self, by_device: Calibrations) -> None:
        self.by_device = {device: dict(c) for device, c in by_device.items() if c}

    def apply(self, sample: Sample) -> Sample:
        corrections = self.by_device.get(sample.device_id)
        if not corrections:
            return sample
        values = sample.values
        corrected: dict[str, float] = {}
        raw: dict[str, float] = {}
        used: dict[CalibratedQuantity, Calibration] = {}
        for quantity, calibration in corrections.items():
            value = getattr(values, quantity)
            if value is None:
                continue
            new = round(calibration.apply(value), DECIMALS)
            low, high = _BOUNDS.get(quantity, (-float("inf"), float("inf")))
            corrected[quantity] = min(max(new, low), high)
            raw[quantity] = value
            used[quantity] = calibration
        if not used:
            return sample
        return dataclasses.replace(
            sample,
            values=msgspec.structs.replace(values, **corrected),
            raw=RawValues(**raw),
            calibration=used,
        )
