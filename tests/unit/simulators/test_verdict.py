"""Judging a run: ledgers against stored rows, alerts against expectations."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulators import fleet, tally
from simulators.ledger import LedgerWriter, Produced
from simulators.scenario import load
from simulators.tally import Stored
from simulators.verdict import Judge, Verdict, read_ledgers, render

SCENARIOS = Path(__file__).parents[3] / "scenarios"
EPOCH = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOGGER = "A4:C1:38:00:00:01"


def _at(s: float) -> datetime:
    return EPOCH + timedelta(seconds=s)


def _reading(temperature: float, rssi: int = -70) -> dict[str, float | int | str | None]:
    return {
        "temperature_c": temperature,
        "humidity_pct": 55.0,
        "battery_pct": 96.0,
        "rssi_dbm": rssi,
    }


def _row(
    s: float, values: dict[str, float | int | str | None], gateway: str = "gw-van-1"
) -> Stored:
    full = dict.fromkeys(tally.FIELDS["readings"])
    full.update(values)
    return Stored(LOGGER, _at(s), gateway, full)


def test_exact_counts_lost_duplicated_unexpected_mismatched_in_flight() -> None:
    produced = [Produced("r", LOGGER, _at(s), _reading(4.0 + s), "gw-van-1") for s in range(6)]
    produced.append(Produced("r", LOGGER, _at(6), _reading(10.0), "gw-van-1", in_flight=True))
    produced.append(Produced("r", LOGGER, _at(7), _reading(11.0), "gw-van-1", in_flight=True))
    stored = [
        _row(0, _reading(4.0)),
        _row(1, _reading(5.0)),
        _row(1, _reading(5.0)),  # twice
        _row(2, _reading(6.004)),  # within BTHome's 0.01 °C
        _row(3, _reading(7.02)),  # not: another value
        _row(4, {**_reading(8.0), "pressure_hpa": 1013.0}),  # a field never produced
        # 5: lost
        _row(6, _reading(10.0)),  # in flight at a kill, yet committed: fine
        # 7: in flight at a kill, not stored: counted apart
        _row(9, _reading(3.0)),  # produced by no ledger
    ]
    counts = tally.compare("readings", produced, stored)
    assert (counts.produced, counts.stored) == (8, 8)
    assert (counts.lost, counts.duplicated, counts.unexpected, counts.mismatched) == (1, 1, 1, 2)
    assert counts.in_flight_at_gateway_kill == 1
    assert counts.examples["lost"] == [f"{LOGGER} at {_at(5).isoformat()} (gw-van-1): "
                                       "temperature_c=9.0, humidity_pct=55.0, battery_pct=96.0,"
                                       " rssi_dbm=-70"]  # fmt: skip
    mismatched = counts.examples["mismatched"]
    assert any("temperature_c: 7.0 produced, 7.02 stored" in m for m in mismatched)
    assert any("pressure_hpa: None produced, 1013.0 stored" in m for m in mismatched)


def test_lost_items_are_summed_up_in_spans_per_gateway() -> None:
    def lost(gateway: str, minutes: float) -> Produced:
        return Produced("r", LOGGER, _at(minutes * 60), _reading(4.0), gateway)

    items = [lost("gw-van-1", m) for m in (0, 1, 3, 20, 21)] + [lost("gw-van-2", 2)]
    assert tally.spans(items) == [
        "gw-van-1: 2026-11-23T12:00:00+00:00 … 2026-11-23T12:03:00+00:00 (3 lost)",
        "gw-van-2: 2026-11-23T12:02:00+00:00 … 2026-11-23T12:02:00+00:00 (1 lost)",
        "gw-van-1: 2026-11-23T12:20:00+00:00 … 2026-11-23T12:21:00+00:00 (2 lost)",
    ]
    counts = tally.compare("readings", items, [])
    assert counts.lost == 6 and counts.lost_spans == tally.spans(items)


def test_a_row_stored_under_another_gateway_is_mismatched() -> None:
    produced = [Produced("r", LOGGER, _at(0), _reading(4.0), "gw-van-1")]
    counts = tally.compare("readings", produced, [_row(0, _reading(4.0), gateway="gw-van-2")])
    assert (counts.lost, counts.mismatched, counts.unexpected) == (0, 1, 0)
    assert "gateway: gw-van-1 produced, gw-van-2 stored" in counts.examples["mismatched"][0]


def test_events_and_scans_are_compared_too() -> None:
    door = {"kind": "door", "state": "open", "value": None}
    scan = {"kind": "scan", "state": "load", "value": None, "parcel_id": "P-1",
            "compartment": "rear", "logger_id": LOGGER}  # fmt: skip
    produced = [
        Produced("e", "BOARD-1", _at(0), door, "gw-van-1"),
        Produced("e", "SCANNER-1", _at(5), scan, "gw-van-1"),
    ]
    events = [
        Stored("BOARD-1", _at(0), "gw-van-1", {**door, "state": "closed"}),
        Stored("SCANNER-1", _at(5), "gw-van-1", {"kind": "scan", "state": "load", "value": None}),
    ]
    counts = tally.compare("events", produced, events)
    assert (counts.mismatched, counts.lost, counts.unexpected) == (1, 0, 0)
    scans_produced = tally.scans_produced(produced)
    assert len(scans_produced) == 1
    stored_scans = [
        Stored("SCANNER-1", _at(5), "gw-van-1",
               {"action": "load", "parcel_id": "P-1", "compartment": "rear", "logger_id": LOGGER}),
        Stored("SCANNER-1", _at(9), "gw-van-1",
               {"action": "unload", "parcel_id": "P-1", "compartment": None, "logger_id": None}),
    ]  # fmt: skip
    counts = tally.compare("scans", scans_produced, stored_scans)
    assert (counts.produced, counts.stored, counts.unexpected, counts.mismatched) == (1, 2, 1, 0)


def test_a_missing_ledger_fails_the_run_and_is_named(tmp_path: Path) -> None:
    ok = tmp_path / "gw-van-1.ledger"
    writer = LedgerWriter(ok, "gw-van-1")
    writer.taken(writer.produced([("r", LOGGER, EPOCH, _reading(4.0))]))
    verdict = Verdict()
    produced = read_ledgers({"gw-van-1": ok, "gw-van-2": tmp_path / "gw-van-2.ledger"}, verdict)
    assert len(produced) == 1
    assert (verdict.ledgers.files, verdict.ledgers.produced) == (1, 1)
    assert verdict.ledgers.missing == ["gw-van-2"]
    assert not verdict.ok
    assert "ledger of gw-van-2" in verdict.failures[0] and "no ledger" in verdict.failures[0]
    assert "MISSING: gw-van-2" in render(verdict, "chaos")


def test_a_ledger_of_another_gateway_fails(tmp_path: Path) -> None:
    path = tmp_path / "gw-van-1.ledger"
    LedgerWriter(path, "gw-van-9")
    verdict = Verdict()
    read_ledgers({"gw-van-1": path}, verdict)
    assert not verdict.ok and "written by gw-van-9" in verdict.failures[0]


def test_alerts_match_by_scope_kind_and_window() -> None:
    scenario = load(SCENARIOS / "compressor-failure.toml")
    plan = fleet.build(vans=3, parcels=9, seed=7, run="x")
    judge = Judge(scenario, plan, EPOCH, "postgresql://unused")
    excursion, budget = scenario.expectations[0], scenario.expectations[1]
    van2 = plan.van("van-2").parcels[0].parcel_id
    van1 = plan.van("van-1").parcels[0].parcel_id

    def alert(subject: str, kind: str, minutes: float) -> dict[str, object]:
        return {
            "subject_kind": "parcel",
            "subject_id": subject,
            "rule": "pharma-2-8@1/above-8",
            "kind": kind,
            "started_at": EPOCH + timedelta(minutes=minutes),
        }

    assert judge._alert_matches(excursion, alert(van2, "excursion", 46))  # 10:46
    assert not judge._alert_matches(excursion, alert(van1, "excursion", 46))  # other van
    assert not judge._alert_matches(excursion, alert(van2, "budget", 46))  # other kind
    assert not judge._alert_matches(excursion, alert(van2, "excursion", 65))  # after 11:00
    assert judge._alert_matches(budget, alert(van2, "budget", 106))  # 11:46
