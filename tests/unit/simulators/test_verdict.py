"""Judging a run: ledgers against stored rows, alerts against expectations."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulators import fleet
from simulators.scenario import load
from simulators.verdict import Judge, _compare, read_ledgers

SCENARIOS = Path(__file__).parents[3] / "scenarios"
EPOCH = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_lost_duplicated_and_unexpected(tmp_path: Path) -> None:
    t = [EPOCH + timedelta(seconds=s) for s in range(4)]
    (tmp_path / "a.ledger").write_text(
        "".join(f"r A4:C1:38:00:00:01 {x.isoformat()}\n" for x in t[:3])
        + f"p GPS-VAN-1 {t[0].isoformat()}\n"
    )
    produced = read_ledgers([tmp_path / "a.ledger", tmp_path / "missing.ledger"])
    stored = Counter({("A4:C1:38:00:00:01", t[0]): 1, ("A4:C1:38:00:00:01", t[1]): 2})
    stored[("A4:C1:38:00:00:01", t[3])] = 1
    counts = _compare(produced["r"], stored)
    assert (counts.produced, counts.stored) == (3, 4)
    assert (counts.lost, counts.duplicated, counts.unexpected) == (1, 1, 1)
    assert len(produced["p"]) == 1


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
