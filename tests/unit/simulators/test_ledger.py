"""The source ledger: written before the gateway sees the frames, read back item by item, and
in agreement with what the gateway's own decoders make of the same frames."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_bridge.frames import EventSample, FixSample, Sample
from gateway.decoding import FrameDecoder
from simulators import fleet, tally
from simulators.ledger import LedgerError, LedgerWriter, Produced, read
from simulators.scenario import load
from simulators.scenario_source import ScenarioVanSource
from simulators.tally import Stored

SCENARIOS = Path(__file__).parents[3] / "scenarios"
EPOCH = 1_795_000_000.0
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = '{"start":"x","gateway":"gw-1","pid":1}\n'


def _values(t: float) -> dict[str, float | int | str | None]:
    return {"temperature_c": 4.0 + t, "rssi_dbm": -70}


def test_items_of_taken_batches_and_in_flight_ones(tmp_path: Path) -> None:
    path = tmp_path / "gw-van-1.ledger"
    first = LedgerWriter(path, "gw-van-1")
    taken = first.produced([("r", "A", T0, _values(0)), ("p", "GPS", T0, {"lat": 45.0})])
    first.taken(taken)
    first.produced([("r", "A", T0 + timedelta(seconds=30), _values(30))])  # killed here
    second = LedgerWriter(path, "gw-van-1")  # the gateway started again
    second.taken(second.produced([("e", "B", T0 + timedelta(seconds=60), {"kind": "door"})]))
    second.produced([("r", "A", T0 + timedelta(seconds=90), _values(90))])  # never taken, at EOF

    contents = read(path)
    assert (contents.gateway, contents.starts) == ("gw-van-1", 2)
    items = {(p.kind, p.device, p.at - T0): p for p in contents.items}
    assert len(items) == 5
    assert items[("r", "A", timedelta(0))].values == _values(0)
    assert items[("r", "A", timedelta(0))].gateway == "gw-van-1"
    assert items[("r", "A", timedelta(seconds=30))].in_flight  # a restart followed
    # The last process was not killed: what it produced must be stored like anything else.
    assert not items[("r", "A", timedelta(seconds=90))].in_flight
    assert sum(p.in_flight for p in contents.items) == 1
    assert first.count == 3 and second.count == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (None, "no ledger"),
        ("", "empty ledger"),
        ('{"b":1,"k":"r","d":"A","t":"2026-11-23T12:00:00+00:00","v":{}}\n', "before the first"),
        (START + '{"b":1,"k":"x","d":"A","t":"z","v":{}}\n', ":2:"),
        (START + '{"b":1,"k":"r","d":"A","t":"2026-11-23T12:00:00","v":{}}\n', "UTC offset"),
        (START + "r A 2026-11-23T12:00:00+00:00\n", "not a ledger line"),
    ],
)  # fmt: skip
def test_a_ledger_that_cannot_be_read_says_where(
    tmp_path: Path, text: str | None, match: str
) -> None:
    path = tmp_path / "gw-1.ledger"
    if text is not None:
        path.write_text(text)
    with pytest.raises(LedgerError, match=match):
        read(path)


def _decoded_as_stored(
    source: ScenarioVanSource, seconds: range
) -> tuple[list[Produced], dict[str, list[Stored]]]:
    """Produced items, and what the gateway's decoders make of the same frames, as rows."""
    decoder = FrameDecoder()
    gateway = source.van.gateway_id
    produced: list[Produced] = []
    # Keyed by everything: the gateway's stamper drops the repeat of an advert (same packet id).
    rows: dict[str, dict[object, Stored]] = {"readings": {}, "positions": {}, "events": {}}
    for t in seconds:
        for frames, items in (source.ble_adverts(t), source.gps_chunks(t), source.board_chunks(t)):
            produced += [Produced(k, d, at, v, gateway) for k, d, at, v in items]
            for frame in frames:
                decoded = decoder.decode(frame)
                assert decoded.rejects == []
                for s in decoded.samples:
                    values = s.values
                    accel = values.accel_g or (None, None, None)
                    row = {
                        "temperature_c": values.temperature_c,
                        "humidity_pct": values.humidity_pct,
                        "pressure_hpa": values.pressure_hpa,
                        "accel_x_g": accel[0],
                        "accel_y_g": accel[1],
                        "accel_z_g": accel[2],
                        "shock_g": values.shock_g,
                        "battery_pct": values.battery_pct,
                        "rssi_dbm": values.rssi_dbm,
                    }
                    _add(rows["readings"], _stored(s, gateway, row))
                for f in decoded.fixes:
                    fix = f.fix
                    row = {name: getattr(fix, name) for name in tally.FIELDS["positions"]}
                    _add(rows["positions"], _stored(f, gateway, row))
                for e in decoded.events:
                    row = {"kind": e.kind, "state": e.state, "value": e.value}
                    _add(rows["events"], _stored(e, gateway, row))
    return produced, {table: list(found.values()) for table, found in rows.items()}


def _add(rows: dict[object, Stored], row: Stored) -> None:
    rows[(row.device, row.at, tuple(sorted(row.values.items())))] = row


def _stored(
    sample: Sample | FixSample | EventSample,
    gateway: str,
    values: dict[str, float | int | str | None],
) -> Stored:
    return Stored(sample.device_id, sample.measured_at or sample.received_at, gateway, values)


def test_the_source_ledger_is_what_the_gateways_decoders_read_in_its_frames() -> None:
    scenario = load(SCENARIOS / "door-open-under-delay.toml")
    plan = fleet.build(vans=scenario.vans, parcels=scenario.parcels, seed=scenario.seed)
    source = ScenarioVanSource(scenario, plan.van("van-1"), epoch=EPOCH)
    # The whole 90 min: the rear door is open from 11:30 to 11:50.
    produced, stored = _decoded_as_stored(source, range(0, 90 * 60, 10))
    for kind, table in tally.TABLE_OF.items():
        counts = tally.compare(table, [p for p in produced if p.kind == kind], stored[table])
        assert counts.produced > 0, table
        assert (counts.lost, counts.duplicated, counts.unexpected, counts.mismatched) == (
            0,
            0,
            0,
            0,
        ), (table, counts.examples)
    kinds = {(p.device, p.values.get("state")) for p in produced if p.kind == "e"}
    van = plan.van("van-1")
    # The door tag's first state (this gateway had not heard it), then its changes; the board's
    # contact sends the changes only (it starts closed).
    assert kinds == {
        (van.door_tag_mac, "closed"),
        (van.door_tag_mac, "open"),
        (van.board_device_id, "open"),
        (van.board_device_id, "closed"),
    }
    assert sum(p.kind == "e" for p in produced) == 5
