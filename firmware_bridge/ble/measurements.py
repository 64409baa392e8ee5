"""The step every BLE decoder ends with: decoded fields (+ the advert's RSSI) -> Measurements."""

from __future__ import annotations

from typing import Any

import msgspec

from coldtrail.schema import Measurements

RSSI_MIN, RSSI_MAX = -150, 20  # the contract's range; some stacks report 127 for "unknown"


def measurements(fields: dict[str, Any], rssi: int | None) -> Measurements:
    """The contract's measurements, or ``ValueError`` saying which value breaks the contract."""
    if rssi is not None and RSSI_MIN <= rssi <= RSSI_MAX:
        fields = {**fields, "rssi_dbm": rssi}
    try:
        return msgspec.convert(fields, Measurements)
    except msgspec.ValidationError as exc:
        raise ValueError(f"outside the telemetry contract: {exc}") from None
