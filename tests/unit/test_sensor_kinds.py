"""One registry of BLE sensor kinds (coldtrail/sensor_kinds.py): every list derived from it agrees.

Fails when a kind is added in one place and not another: the decoders, the gateway's settings,
``coldtrail decode ble --kind``, the passive-scan patterns, the pinned parser libraries and the
supported-devices docs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from bleak.assigned_numbers import AdvertisementDataType

from coldtrail import sensor_kinds
from coldtrail.settings import SensorSettings
from firmware_bridge.ble import registry, sensor_state
from gateway import decode_cli
from gateway.ble_source import PASSIVE_FLAGS, PASSIVE_PATTERNS

ROOT = Path(__file__).resolve().parents[2]
MAC = "A4:C1:38:12:34:56"


def test_every_kind_has_one_decoder_and_every_decoder_a_kind() -> None:
    assert list(registry.DECODERS) == list(sensor_kinds.KIND_NAMES)


def test_kinds_are_unique_and_auto_is_not_one() -> None:
    assert len(set(sensor_kinds.KIND_NAMES)) == len(sensor_kinds.KIND_NAMES)
    assert sensor_kinds.AUTO not in sensor_kinds.KIND_NAMES


@pytest.mark.parametrize("kind", sensor_kinds.CONFIG_KINDS)
def test_settings_accept_every_kind(kind: str) -> None:
    assert SensorSettings(mac=MAC, kind=kind).kind == kind
    assert registry.SensorConfig(MAC, kind).kind == kind


def test_settings_refuse_an_unknown_kind_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown kind 'tuya'; choose one of auto"):
        SensorSettings(mac=MAC, kind="tuya")


def _ble_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser()
    decode_cli.register(root.add_subparsers())
    decode = root._subparsers._group_actions[0].choices["decode"]  # type: ignore[union-attr]
    formats = decode._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    parser: argparse.ArgumentParser = formats["ble"]
    return parser


def test_decode_cli_offers_exactly_the_registry_kinds() -> None:
    [kind] = [a for a in _ble_parser()._actions if a.dest == "kind"]
    assert list(kind.choices or ()) == list(sensor_kinds.CONFIG_KINDS)


def test_passive_patterns_are_the_flags_and_each_kinds_prefixes() -> None:
    expected = [(AdvertisementDataType.FLAGS, bytes([f])) for f in PASSIVE_FLAGS] + [
        (AdvertisementDataType(ad_type), prefix)
        for ad_type, prefix in sensor_kinds.passive_prefixes()
    ]
    actual = [(p.ad_data_type, p.content_of_pattern) for p in PASSIVE_PATTERNS]  # type: ignore[union-attr]
    assert actual == expected
    assert len(PASSIVE_PATTERNS) <= 16  # what the existing comment says BlueZ takes


def test_every_stable_id_of_a_kind_is_a_passive_pattern() -> None:
    prefixes = set(sensor_kinds.passive_prefixes())
    for kind in sensor_kinds.KINDS:
        for match in kind.matches:
            if match.service_data_uuid is not None:
                assert (0x16, match.service_data_uuid.to_bytes(2, "little")) in prefixes
            if match.company_id is not None:
                assert (0xFF, match.company_id.to_bytes(2, "little")) in prefixes


def test_library_kinds_have_a_parser_and_a_pinned_dependency() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = {dep.split("==")[0] for dep in pyproject["project"]["dependencies"]}
    for kind in sensor_kinds.KINDS:
        if kind.library is None:
            continue
        assert kind.library in pinned, f"{kind.name}: {kind.library} is not pinned"
        if kind.name in sensor_state.PARSERS:
            assert sensor_state.PARSERS[kind.name].module == kind.library.replace("-", "_")
            assert sensor_state.parser_class(kind.name) is not None
    assert set(sensor_state.PARSERS) <= set(sensor_kinds.KIND_NAMES)


def test_every_kind_is_documented() -> None:
    devices = (ROOT / "docs/devices.md").read_text()
    gateway = (ROOT / "docs/gateway.md").read_text()
    for kind in sensor_kinds.KIND_NAMES:
        assert f"`{kind}`" in devices, f"docs/devices.md does not name kind {kind!r}"
        assert f'"{kind}"' in gateway, f"docs/gateway.md [[sensors]] kind misses {kind!r}"


def test_the_parser_libraries_are_imported_only_when_used() -> None:
    """The gateway's start-up imports no parser library; decoding one kind imports its own."""
    libraries = [parser.module for parser in sensor_state.PARSERS.values()]
    code = (
        "import sys\n"
        "import gateway.wiring, gateway.decoding, gateway.decode_cli, gateway.scan_cli\n"
        f"libraries = {libraries!r}\n"
        "print(sorted(m for m in libraries if m in sys.modules))\n"
        "from tests.unit.firmware_bridge.ble_corpus import CAPTURES\n"
        "from firmware_bridge.ble import registry\n"
        "from datetime import UTC, datetime\n"
        "[c] = [c for c in CAPTURES if c.label == 'H5075']\n"
        "registry.decode_hex(c.advert, received_at=datetime.now(UTC),"
        " scan_responses=c.scan_responses)\n"
        "print(sorted(m for m in libraries if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "['govee_ble']"]
