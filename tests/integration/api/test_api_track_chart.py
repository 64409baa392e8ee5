"""The shopper's temperature chart tells the truth (/v1/track/{token} and the timeline's
summary, against a real PostgreSQL): every reading when they fit in 500 points, else each
parcel's lowest and highest reading per bucket at their own times; the raw lowest and highest
of every reading; the stored temperature alerts as the spans to shade."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.api.conftest import OPS, create_shipment, insert_readings, post
from tests.integration.api.exception_rows import insert_alert

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # where the chart's buckets are aligned

Reading = tuple[datetime, str, int, float]  # (time, device_id, seq, temperature_c)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def point(parcel_id: str, t: datetime, temperature_c: float) -> dict[str, Any]:
    return {"parcel_id": parcel_id, "time": iso(t), "temperature_c": temperature_c}


async def shipment(
    client: httpx.AsyncClient, tn: str, parcels: dict[str, str], since: datetime
) -> dict[str, Any]:
    """A shipment whose parcels (parcel -> logger) ride in one van from ``since``."""
    van = f"van-{tn}"
    await post(client, "/v1/vehicles", {"vehicle_id": van, "name": van, "gateway_id": f"gw-{tn}"})
    created = await create_shipment(client, tn, *parcels, profile="pharma-2-8")
    for parcel, tag in parcels.items():
        body = {"parcel_id": parcel, "vehicle_id": van, "device_id": tag,
                "from_time": since.isoformat()}  # fmt: skip
        await post(client, "/v1/custody", body)
    return created


async def track(client: httpx.AsyncClient, created: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/v1/track/{created['access_token']}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def cold_then_warm(start: datetime, tag: str, n: int) -> list[Reading]:
    """The issue's parcel: its first readings cold (from 4.98 °C), then about 12 °C, one a
    minute. A 5-minute average of the first bucket is above 10 °C: it hides them."""
    first = [4.98, 5.3, 6.1, 7.4]
    return [
        (start + timedelta(minutes=m), tag, m,
         first[m] if m < len(first) else round(12.0 + 0.6 * math.sin(m / 7), 2))
        for m in range(n)
    ]  # fmt: skip


def extremes(readings: list[tuple[str, datetime, float]], width: timedelta) -> set[Any]:
    """What the chart must give for thinned readings: per parcel and bucket (aligned on
    2000-01-01 UTC), the lowest and the highest reading, each the earliest of its value."""
    buckets: dict[tuple[str, int], list[tuple[datetime, float]]] = {}
    for parcel, t, v in readings:
        buckets.setdefault((parcel, (t - ORIGIN) // width), []).append((t, v))
    out = set()
    for (parcel, _), rows in buckets.items():
        low = min(rows, key=lambda r: (r[1], r[0]))
        high = min(rows, key=lambda r: (-r[1], r[0]))
        out |= {(parcel, low[0], low[1]), (parcel, high[0], high[1])}
    return out


def as_tuples(points: list[dict[str, Any]]) -> list[tuple[str, datetime, float]]:
    return [(p["parcel_id"], datetime.fromisoformat(p["time"]), p["temperature_c"]) for p in points]


async def test_cold_first_readings_are_shown_as_read(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    start = NOW - timedelta(hours=2)
    created = await shipment(client, "TN-COLD", {"C1": "tag-c"}, start)
    readings = cold_then_warm(start, "tag-c", 120)
    insert_readings(migrated_url, readings)
    view = await track(client, created)
    # 120 readings fit: every one, as read, at its time, with its parcel.
    assert view["temperature_bucket_s"] is None
    assert view["temperatures"] == [point("C1", t, v) for t, _, _, v in readings]
    values = [v for _, _, _, v in readings]
    high_at = readings[values.index(max(values))][0]
    assert view["temperature_range"] == {
        "readings": 120, "parcels": 1, "first_at": iso(start), "last_at": iso(readings[-1][0]),
        "min": point("C1", start, 4.98), "max": point("C1", high_at, max(values)),
    }  # fmt: skip
    # The timeline's summary states the same raw range (the ops console reads it there).
    timeline = (await client.get("/v1/shipments/TN-COLD/timeline", headers=OPS)).json()
    assert timeline["summary"]["temperature_range"] == view["temperature_range"]


async def test_cold_first_readings_survive_the_thinning(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    start = NOW - timedelta(minutes=3000)
    created = await shipment(client, "TN-COLD-LONG", {"C2": "tag-c2"}, start)
    readings = cold_then_warm(start, "tag-c2", 3000)
    insert_readings(migrated_url, readings)
    view = await track(client, created)
    # 3,000 readings do not fit: 15-minute buckets (tests/unit/api/test_tracking_thin.py).
    assert view["temperature_bucket_s"] == 900
    points = view["temperatures"]
    assert len(points) <= 500
    assert point("C2", start, 4.98) in points  # the first reading, at its own time
    assert view["temperature_range"]["min"] == point("C2", start, 4.98)
    assert view["temperature_range"]["readings"] == 3000
    # Not one point is made up: each is a reading as stored.
    stored = {("C2", t, v) for t, _, _, v in readings}
    assert set(as_tuples(points)) <= stored


async def test_thinned_readings_keep_each_buckets_lowest_and_highest_at_their_times(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    start = NOW - timedelta(minutes=1500)
    created = await shipment(client, "TN-THIN", {"T1": "tag-t1", "T2": "tag-t2"}, start)
    spike_at = start + timedelta(minutes=733, seconds=17, microseconds=250_001)
    dip_at = start + timedelta(minutes=1021, seconds=41, microseconds=3)
    readings: list[Reading] = []
    for m in range(1500):
        t = start + timedelta(minutes=m)
        readings.append((t, "tag-t1", m, round(5.0 + 0.5 * math.sin(m / 5), 2)))
        # T2 is flat for hours (equal readings: the earliest stands for them), then waves.
        readings.append((t, "tag-t2", m, 4.0 if m < 600 else round(4.0 + math.cos(m / 3), 2)))
    readings += [(spike_at, "tag-t1", 10_001, 15.3), (dip_at, "tag-t2", 10_002, -3.25)]
    insert_readings(migrated_url, readings)
    view = await track(client, created)

    width = timedelta(seconds=view["temperature_bucket_s"])
    assert width % timedelta(minutes=5) == timedelta(0)
    points = as_tuples(view["temperatures"])
    assert len(points) <= 500
    assert [(t, p) for p, t, _ in points] == sorted((t, p) for p, t, _ in points)  # time order
    parcel = {"tag-t1": "T1", "tag-t2": "T2"}
    stored = [(parcel[d], t, v) for t, d, _, v in readings]
    assert set(points) == extremes(stored, width) and len(points) == len(set(points))
    # The spike and the dip in the middle of their buckets, at their own microsecond.
    assert ("T1", spike_at, 15.3) in points and ("T2", dip_at, -3.25) in points
    assert view["temperature_range"]["min"] == point("T2", dip_at, -3.25)
    assert view["temperature_range"]["max"] == point("T1", spike_at, 15.3)
    assert (view["temperature_range"]["readings"], view["temperature_range"]["parcels"]) == (
        3002, 2,
    )  # fmt: skip


async def test_the_stored_temperature_alerts_are_the_spans_to_shade(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    start = NOW - timedelta(hours=3)
    created = await shipment(client, "TN-SPANS", {"S1": "tag-s1", "S2": "tag-s2"}, start)
    other = await shipment(client, "TN-OTHER", {"O1": "tag-o1"}, start)
    insert_readings(migrated_url, [(start, "tag-s1", 1, 5.0), (start, "tag-o1", 1, 5.0)])

    def at(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    alerts = [  # (tracking number, subject, start, end, kind, severity, state): shown?
        ("TN-SPANS", ("parcel", "S1"), at(10), at(25), "excursion", "critical", "closed", True),
        ("TN-SPANS", ("parcel", "S2"), at(40), None, "budget", "warning", "open", True),
        ("TN-SPANS", ("parcel", "S1"), at(50), at(70), "mkt", "warning", "closed", True),
        ("TN-SPANS", ("parcel", "S1"), at(5), at(8), "excursion", "critical", "superseded", False),
        ("TN-SPANS", ("parcel", "S1"), at(30), at(31), "shock", "warning", "closed", False),
        ("TN-SPANS", ("device", "tag-s1"), at(35), None, "excursion", "critical", "open", False),
        ("TN-OTHER", ("parcel", "O1"), at(20), None, "excursion", "critical", "open", False),
    ]
    for tn, subject, began, ended, kind, severity, state, _ in alerts:
        insert_alert(migrated_url, tn, subject, began, ended_at=ended, rule=f"pharma-2-8/{kind}",
                     kind=kind, severity=severity, state=state)  # fmt: skip
    expected = [
        {"parcel_id": subject[1], "kind": kind, "severity": severity, "started_at": iso(began),
         "ended_at": None if ended is None else iso(ended)}
        for _, subject, began, ended, kind, severity, _, shown in alerts if shown
    ]  # fmt: skip
    view = await track(client, created)
    assert view["excursions"] == expected  # no alert id, no rule name
    timeline = (await client.get("/v1/shipments/TN-SPANS/timeline", headers=OPS)).json()
    assert timeline["summary"]["excursions"] == expected
    assert (await track(client, other))["excursions"] == [
        {"parcel_id": "O1", "kind": "excursion", "severity": "critical",
         "started_at": iso(at(20)), "ended_at": None},
    ]  # fmt: skip


async def test_a_shipment_without_readings_has_no_range(client: httpx.AsyncClient) -> None:
    created = await shipment(client, "TN-EMPTY", {"E1": "tag-e"}, NOW - timedelta(hours=1))
    view = await track(client, created)
    assert (view["temperatures"], view["temperature_range"], view["excursions"]) == ([], None, [])
    assert view["temperature_bucket_s"] is None
