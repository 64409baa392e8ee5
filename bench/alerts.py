"""Alert rules: throughput of the pure rules on one core.

Prints {"parcel_judge_readings_per_s": ..., "rules_readings_per_s": ..., ...}. The first is what
ingest's rule runner steps for every parcel (alerts/condition.py's ParcelRules: the parcel's
zones fed a fix every ten readings, then its rules, and the tally its condition is read from);
the second the readings per second that one parcel's RuleSet
(the ``pharma-2-8`` profile's boundaries, a whole-trip MKT, humidity bounds, battery low and
shocks above 5 g) steps through, over a realistic week of one-minute readings per parcel:
mostly in spec, with door openings, one compressor failure, humidity spikes, occasional shocks
and a battery running down. The samples are built before the clock starts; the clock is this
process's CPU time (``time.process_time``: one core, whatever else the machine runs), and the
figure is the median of ``ROUNDS`` passes. A second figure does the same with a 24 h
rolling-window MKT (the USP ⟨1079.2⟩ window for refrigerated products) instead.

Each part of the benchmark is one function returning a dict of figures; :func:`main` runs the
parts and prints their figures merged into one JSON object.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.builtin_profiles import PHARMA_2_8
from alerts.button import ButtonRule
from alerts.condition import ParcelRules
from alerts.events import RuleSet, Sample, fold
from alerts.geofence import Zone
from alerts.mkt import MktRule
from alerts.profile_model import Scope
from alerts.rules import (
    battery_low,
    door_rules,
    humidity_rules,
    parcel_rules,
    profile_rules,
    shock_above,
)

PARCELS = 20
DAYS = 7
EVERY = timedelta(minutes=1)
ROUNDS = 5
T0 = datetime(2026, 11, 23, tzinfo=UTC)


def parcel_series(seed: int) -> list[Sample]:
    """A week of one-minute readings for one parcel, mostly in spec, with a few excursions."""
    rng = random.Random(seed)
    n = DAYS * 24 * 60
    compressor = rng.randrange(n // 4, 3 * n // 4)
    out: list[Sample] = []
    door_until = -1
    for i in range(n):
        temperature = 5.0 + rng.gauss(0, 0.6)
        if i % 360 == 0 and i > 0 and rng.random() < 0.7:
            door_until = i + rng.randrange(5, 25)  # a door opening every few hours
        if i < door_until:
            temperature = 8.5 + rng.random() * 2
        if compressor <= i < compressor + 90:
            temperature = 8.0 + (i - compressor) / 10  # a compressor failure, 90 min
        humidity = 55.0 + rng.gauss(0, 4) + (30.0 if i < door_until else 0.0)
        shock = rng.uniform(0.5, 9.0) if rng.random() < 0.002 else None
        scope: Scope = "origin" if i < 30 else "destination" if i >= n - 30 else "transit"
        out.append(
            Sample(
                at=T0 + i * EVERY,
                temperature_c=round(temperature, 2),
                humidity_pct=round(min(humidity, 100.0), 1),
                shock_g=shock,
                battery_pct=100.0 - 85.0 * i / n,
                scope=scope,
            )
        )
    return out


def _parcel_rules(mkt: MktRule) -> RuleSet:
    return parcel_rules(
        PHARMA_2_8, mkt, *humidity_rules(30.0, 80.0), battery_low(), shock_above(5.0)
    )


def _readings_per_s(rules: RuleSet, series: list[list[Sample]]) -> tuple[int, int]:
    """Median readings/s over ``ROUNDS`` passes, and the alerts of one pass."""
    readings = sum(len(s) for s in series)
    rates: list[float] = []
    alerts = 0
    for _ in range(ROUNDS):
        alerts = 0
        start = time.process_time()
        for samples in series:
            _, out = fold(rules, samples)
            alerts += len(out)
        rates.append(readings / (time.process_time() - start))
    return round(statistics.median(rates)), alerts


def _parcel_judge(mkt: MktRule) -> ParcelRules:
    """What ingest's rule runner steps for a parcel: its zones first (origin, destination and a
    depot on the way), then the profile's rules and the others, and the condition kept."""
    zones = (
        Zone("Depot Lyon", "origin", 45.729, 4.829, 500.0),
        Zone("Villeurbanne", "destination", 45.771, 4.889, 500.0),
        Zone("Hub Vénissieux", "hub", 45.70, 4.88, 800.0),
    )
    rules = (*profile_rules(PHARMA_2_8), mkt, *humidity_rules(30.0, 80.0), battery_low(),
             shock_above(5.0), ButtonRule(), *door_rules(PHARMA_2_8))  # fmt: skip
    return ParcelRules.build(PHARMA_2_8, rules, zones)


def _with_fixes(samples: list[Sample]) -> list[Sample]:
    """A fix every 10 readings (a GPS at 0.1 Hz beside one-minute readings), leaving the depot
    and reaching the destination; readings carry no scope (the zones give it)."""
    out: list[Sample] = []
    n = len(samples)
    for i, sample in enumerate(samples):
        out.append(replace(sample, scope="transit"))
        if i % 10 == 0:
            share = min(1.0, i / max(1, n - 1))
            lat, lon = 45.729 + 0.042 * share, 4.829 + 0.060 * share
            out.append(Sample(at=sample.at, lat=lat, lon=lon))
    return out


def _judge_readings_per_s(rules: ParcelRules, series: list[list[Sample]]) -> tuple[int, str]:
    readings = sum(1 for s in series for x in s if x.lat is None)
    rates: list[float] = []
    verdict = ""
    for _ in range(ROUNDS):
        start = time.process_time()
        for samples in series:
            state, _ = fold(rules, samples)
            verdict = rules.verdict(state).state
        rates.append(readings / (time.process_time() - start))
    return round(statistics.median(rates)), verdict


def rule_throughput() -> dict[str, Any]:
    series = [parcel_series(seed) for seed in range(PARCELS)]
    whole_trip = _parcel_rules(MktRule("pharma-2-8@1/mkt", 8.0))
    rolling = _parcel_rules(MktRule("pharma-2-8@1/mkt-24h", 8.0, window=timedelta(hours=24)))
    per_s, alerts = _readings_per_s(whole_trip, series)
    rolling_per_s, _ = _readings_per_s(rolling, series)
    judged = [_with_fixes(s) for s in series]
    judge_per_s, verdict = _judge_readings_per_s(
        _parcel_judge(MktRule("pharma-2-8@1/mkt", 8.0)), judged
    )
    return {
        "parcel_judge_readings_per_s": judge_per_s,
        "parcel_judge_last_verdict": verdict,
        "rules_readings_per_s": per_s,
        "rules_readings_per_s_rolling_mkt_24h": rolling_per_s,
        "rules_per_parcel": len(whole_trip.rules),
        "readings": sum(len(s) for s in series),
        "alerts": alerts,
        "goal_readings_per_s": 200_000,
    }


def detection_latency() -> dict[str, Any]:
    """MQTT publish to alert row at 10,000 readings/s (bench/_alert_latency.py)."""
    from bench._alert_latency import run

    return {"detection": run()}


PARTS = (rule_throughput, detection_latency)


def main() -> None:
    figures: dict[str, Any] = {}
    for part in PARTS:
        figures.update(part())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
