"""How many real BLE adverts coldtrail decodes: the captures of
tests/unit/firmware_bridge/ble_corpus.py (Inkbird, Govee, ThermoBeacon, SensorPush, Xiaomi,
RuuviTag RAWv1 and RAWv2 edge vectors, BTHome), each auto-detected and decoded as the gateway
would, joined with its scan response when the code can join them.

Prints one JSON object: captures, decoded (at least one reading), per kind, and each failure
with its reason; with the code of this checkout also the decoding rate of each kind (readings
per second on one core, adverts already parsed, as the gateway has them) and the memory each
parser library adds to a process that imports it (RSS, in a fresh interpreter each). Run it
against another checkout's code to compare (``before``/``after``):

    PYTHONPATH=/path/to/other/checkout python bench/ble_corpus.py
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
import time
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


MIN_SECONDS = 0.5
_RSS = (
    "import resource, sys\n"
    "def rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS:'):\n"
    "            return int(line.split()[1])\n"
    "import firmware_bridge.ble.registry\n"
    "before = rss()\n"
    "__import__(sys.argv[1])\n"
    "print(rss() - before)\n"
)


def rates() -> dict[str, float]:
    """Readings per second of each kind (after one warm-up decode: the library's import)."""
    from firmware_bridge.ble import advertisement

    out: dict[str, float] = {}
    for capture in _corpus().CAPTURES:
        if capture.kind in out or capture.refused:
            continue
        advert = advertisement.parse_hex(
            capture.advert, address=capture.address, received_at=RECEIVED
        )
        for response in capture.scan_responses:
            advert = advertisement.join(
                advert,
                advertisement.parse_hex(response, address=capture.address, received_at=RECEIVED),
            )
        key = None if capture.bindkey is None else bytes.fromhex(capture.bindkey)
        config = registry.SensorConfig(capture.address, capture.kind, bindkey=key)
        registry.decode_advert(advert, config)
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < MIN_SECONDS:
            count += len(registry.decode_advert(advert, config).samples)
        out[capture.kind] = round(count / elapsed)
    return out


def import_rss_kib() -> dict[str, int]:
    """KiB of RSS each parser library adds to a process that already has the registry."""
    from firmware_bridge.ble import sensor_state

    out = {}
    for kind, parser in sensor_state.PARSERS.items():
        done = subprocess.run(
            [sys.executable, "-c", _RSS, parser.module], capture_output=True, text=True, check=True
        )
        out[kind] = int(done.stdout.strip())
    return out


def main() -> None:
    result = run()
    if result["joins_scan_responses"]:
        result["readings_per_s"] = rates()
        result["import_rss_kib"] = import_rss_kib()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
