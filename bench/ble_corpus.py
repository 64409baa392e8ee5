"""How many real BLE adverts coldtrail decodes: the captures of
tests/unit/firmware_bridge/ble_corpus.py (Inkbird, Govee, ThermoBeacon, SensorPush, Xiaomi,
RuuviTag RAWv1 and RAWv2 edge vectors, BTHome), each auto-detected and decoded as the gateway
would, joined with its scan response when the code can join them.

Prints one JSON object: captures, decoded (at least one reading), per kind, and each failure
with its reason. Run it against another checkout's code to compare (``before``/``after``):

    PYTHONPATH=/path/to/other/checkout python bench/ble_corpus.py
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coldtrail.errors import DecodeError
from firmware_bridge.ble import registry

CORPUS = Path(__file__).resolve().parent.parent / "tests/unit/firmware_bridge/ble_corpus.py"
RECEIVED = datetime(2026, 12, 7, tzinfo=UTC)


def _corpus() -> Any:
    """The corpus module, loaded from this checkout by path (the code under test may be
    another checkout's)."""
    spec = importlib.util.spec_from_file_location("ble_corpus", CORPUS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ble_corpus"] = module
    spec.loader.exec_module(module)
    return module


def run() -> dict[str, Any]:
    captures = _corpus().CAPTURES
    joins = "scan_responses" in inspect.signature(registry.decode_hex_advert).parameters
    decoded: Counter[str] = Counter()
    total: Counter[str] = Counter()
    failures = []
    for capture in captures:
        total[capture.kind] += 1
        extra: dict[str, Any] = {"scan_responses": capture.scan_responses} if joins else {}
        if capture.bindkey is not None:
            extra["bindkey"] = bytes.fromhex(capture.bindkey)
        try:
            result = registry.decode_hex_advert(
                capture.advert, address=capture.address, received_at=RECEIVED, **extra
            )
        except DecodeError as exc:
            failures.append({"capture": capture.label, "kind": capture.kind, "why": exc.reason})
            continue
        if result.samples:
            decoded[capture.kind] += 1
        else:
            failures.append({"capture": capture.label, "kind": capture.kind, "why": "no reading"})
    return {
        "code": str(Path(registry.__file__).resolve().parents[2]),
        "joins_scan_responses": joins,
        "captures": sum(total.values()),
        "decoded": sum(decoded.values()),
        "by_kind": {kind: f"{decoded[kind]}/{n}" for kind, n in total.items()},
        "failures": failures,
    }


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
