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


def within_contract(fields: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``fields`` split into those the contract accepts and a description of each it refuses
    (``"humidity_pct=163.835: Expected `float` <= 100.0"``), field by field, for formats whose
    extreme encodings are valid bytes but not physical values (RuuviTag's "maximum values")."""
    kept: dict[str, Any] = {}
    refused: list[str] = []
    for name, value in fields.items():
        try:
            msgspec.convert({name: value}, Measurements)
        except msgspec.ValidationError as exc:
            refused.append(f"{name}={value}: {str(exc).split(' - at ')[0]}")
        else:
            kept[name] = value
    return kept, refused
