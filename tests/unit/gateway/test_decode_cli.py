"""``coldtrail decode``: what support staff run on a customer's capture."""

import io
import json
from datetime import UTC, datetime

import pytest

from coldtrail.schema import Fix
from firmware_bridge.board.reference_board import ReferenceBoard
from firmware_bridge.nmea import encode_fix
from gateway.decode_cli import Report, decode_ble, decode_board, decode_nmea
from tests.unit.firmware_bridge.test_nmea import CAPTURES, DATA, gpsd_fixes


def run_nmea(data: bytes) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = decode_nmea(io.BytesIO(data), "gps", Report(out, err))
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_every_fix_gpsd_reports_and_nothing_else(name: str) -> None:
    status, items, err = run_nmea((DATA / name).read_bytes())
    assert status == 0, err
    ours = {datetime.fromisoformat(str(i["measured_at"])): i for i in items}
    theirs = gpsd_fixes(name)
    assert ours.keys() == theirs.keys()
    for at, report in theirs.items():
        assert ours[at]["lat"] == pytest.approx(report["lat"], abs=1e-6)
        assert ours[at]["lon"] == pytest.approx(report["lon"], abs=1e-6)
        assert ours[at]["kind"] == "position"
    assert f"{len(items)} decoded, 0 rejected" in err


def test_rejects_go_to_stderr_with_their_hex_and_the_exit_status_says_so() -> None:
    good = encode_fix(
        Fix(lat=45.75, lon=4.85, fix_quality=1), datetime(2026, 11, 23, 12, tzinfo=UTC)
    )
    status, items, err = run_nmea(b"# a comment\r\n" + good + b"$GPRMC,broken*00\r\n")
    assert status == 1
    assert [(i["lat"], i["lon"]) for i in items] == [(45.75, 4.85)]
    assert b"$GPRMC,broken*00".hex() in err  # the raw bytes, in hex
    assert err.splitlines()[-1] == "1 decoded, 1 rejected; skipped: 1 comment-line"


def test_board_frames_and_garbage() -> None:
    board = ReferenceBoard(42)
    data = (
        board.reading(temperature_centi_c=452, humidity_centi_pct=6130, battery_pct=87)
        + board.door(True)
        + b"ESP32 boot text\x00"
    )
    out, err = io.StringIO(), io.StringIO()
    status = decode_board(io.BytesIO(data), Report(out, err))
    items = [json.loads(line) for line in out.getvalue().splitlines()]
    assert status == 1
    assert [(i["kind"], i["device_id"], i["seq"]) for i in items] == [
        ("reading", "board-42", 1),
        ("event", "board-42", 2),
    ]
    assert (items[0]["temperature_c"], items[1]["state"]) == (4.52, "open")
    assert err.getvalue().splitlines()[-1] == "2 decoded, 1 rejected"


def run_ble(
    hex_text: str, bindkey: str | None = None, address: str = "A4:C1:38:00:00:01"
) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    status = decode_ble(hex_text, "auto", bindkey, address, Report(out, err))
    return status, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_the_issue_acceptance_adverts() -> None:
    # BTHome v2 (bthome.io's example) and RuuviTag RAWv2 (Ruuvi's valid test vector).
    status, (bthome,), _ = run_ble("0201060c16d2fc40016402ca0903bf13")
    assert status == 0
    assert (bthome["temperature_c"], bthome["humidity_pct"], bthome["battery_pct"]) == (
        25.06,
        50.55,
        100,
    )
    status, (ruuvi,), _ = run_ble("0201061bff99040512fc5394c37c0004fffc040cac364200cdcbb8334c884f")
    assert status == 0
    assert (ruuvi["temperature_c"], ruuvi["humidity_pct"], ruuvi["pressure_hpa"]) == (
        24.3,
        53.49,
        1000.44,
    )
    assert (ruuvi["accel_g"], ruuvi["seq"]) == ([0.004, -0.004, 1.036], 205)


def test_a_truncated_advert_is_rejected_with_its_hex() -> None:
    status, items, err = run_ble("02010603")
    assert (status, items) == (1, [])
    assert "raw: 02010603" in err and err.splitlines()[-1] == "0 decoded, 1 rejected"


def test_an_encrypted_advert_needs_its_bindkey() -> None:
    # bthome.io's encryption example (key 231d39c1d7cc1ab1aee224cd096db932, MAC 54:48:E6:8F:80:A5)
    advert = "020106" + "12" + "16d2fc" + "41e445f3c9962b332211006c7c4519"
    status, _, err = run_ble(advert, address="54:48:E6:8F:80:A5")
    assert status == 1 and "bindkey" in err
    key = "231d39c1d7cc1ab1aee224cd096db932"
    status, (reading,), _ = run_ble(advert, bindkey=key, address="54:48:E6:8F:80:A5")
    assert status == 0 and reading["device_id"] == "54:48:E6:8F:80:A5"


def test_ble_door_and_light_of_a_shelly_door_window() -> None:
    # theengs/decoder tests/BLE/test_ble.cpp, SBDW-002C: packet 93, battery 100 %, 87 lux, open
    status, items, err = run_ble(
        "0201061116d2fc" + "44005d016405fc21002d013f9601", address="3C:2E:F5:AA:BB:CC"
    )
    assert status == 0 and err.splitlines()[-1] == "3 decoded, 0 rejected"
    assert items == [
        {
            "kind": "reading",
            "device_id": "3C:2E:F5:AA:BB:CC",
            "measured_at": None,
            "seq": 93,
            "battery_pct": 100.0,
        },
        {
            "kind": "event",
            "device_id": "3C:2E:F5:AA:BB:CC",
            "measured_at": None,
            "seq": 93,
            "event": "light",
            "state": None,
            "value": 87.0,
        },
        {
            "kind": "event",
            "device_id": "3C:2E:F5:AA:BB:CC",
            "measured_at": None,
            "seq": 93,
            "event": "door",
            "state": "open",
            "value": None,
            "sensor": "window",
        },
    ]


def test_ble_button_events() -> None:
    # bthome-ble tests/test_parser_v2.py, test_bthome_event_triple_button_device
    status, items, _ = run_ble("0201060a16d2fc" + "403a003a013a03")
    assert status == 0
    assert [(i["event"], i["state"], i["value"], i["seq"]) for i in items] == [
        ("button", "press", 2.0, None),
        ("button", "triple_press", 3.0, None),
    ]


def test_ble_advert_joined_with_its_scan_response() -> None:
    # An Inkbird IBS-TH1 of theengs/decoder's tests: measurements in the advert, its name "sps"
    # in the scan response (ble_corpus.py)
    from tests.unit.firmware_bridge.ble_corpus import CAPTURES

    [ibs_th1] = [c for c in CAPTURES if c.label == "IBS-TH1"]
    out, err = io.StringIO(), io.StringIO()
    status = decode_ble(
        ibs_th1.advert, "auto", None, "49:21:09:09:65:49", Report(out, err), ibs_th1.scan_responses
    )
    [reading] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert status == 0
    assert (reading["temperature_c"], reading["humidity_pct"], reading["seq"]) == (
        26.62,
        53.79,
        None,
    )
    status, items, err_text = run_ble(ibs_th1.advert)
    assert (status, items) == (1, [])
    assert "no known sensor format" in err_text


def test_ble_value_outside_the_contract_is_reported_beside_the_reading() -> None:
    # Ruuvi's RAWv2 "maximum values" test vector: humidity 163.835 % is left out and rejected
    status, (reading,), err = run_ble(
        "0201061bff9904057ffffffefffe7fff7fff7fffffdefefffecbb8334c884f"
    )
    assert status == 1
    assert "humidity_pct" not in reading and reading["seq"] == 65534
    assert "humidity_pct=163.84" in err and err.splitlines()[-1] == "1 decoded, 1 rejected"
