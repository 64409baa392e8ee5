"""A demo-like shipment for the pages: a pharma parcel in a van crossing Lyon, with two hours of
readings (one excursion above 8 °C, longer than pharma-2-8's 30-minute allowance), GPS fixes,
carrier checkpoints and a brand. Written through the API where the API writes it, and straight
into the tables where ingest would; then ingest's own rule runner judges them, which stores the
alert, the exception it opens and the parcel's condition."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from tests.integration.api.conftest import insert_positions, insert_readings, judge
from tests.integration.api.exception_rows import AS_ALICE

TRACKING_NUMBER = "CT-LYON-0042"
PARCEL, VAN, GATEWAY, TAG = "P-0042-1", "van-ly-07", "gw-ly-07", "tag-ly-07"
AGENT, AGENT_PASSWORD = "carol", "carol-password-0123"
# simulators/fleet.py's Lyon route, Gerland depot to Villeurbanne, with points in between.
ROUTE = [
    (45.7290, 4.8290),
    (45.7335, 4.8318),
    (45.7405, 4.8372),
    (45.7460, 4.8398),
    (45.7508, 4.8420),
    (45.7555, 4.8490),
    (45.7600, 4.8570),
    (45.7635, 4.8690),
    (45.7665, 4.8795),
]


@dataclass(frozen=True)
class Demo:
    token: str
    tracking_number: str
    exception_id: int
    started: datetime


def _temperature(minute: int) -> float:
    """5 °C with a gentle wave, and an excursion to 9.4 °C from minute 42 to 78 (a compressor
    fault): 36 minutes above 8 °C, so the 30-minute allowance runs out and the alert fires."""
    base = 5.0 + 0.6 * math.sin(minute / 9)
    if 40 <= minute <= 80:
        base = 8.0 + 1.4 * (1 - abs(minute - 60) / 20)
    return round(base, 2)


async def seed(base: str, url: str) -> Demo:
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(minutes=120)
    async with httpx.AsyncClient(base_url=base, headers=AS_ALICE, timeout=30) as client:

        async def post(path: str, body: Any) -> dict[str, Any]:
            response = await client.post(path, json=body)
            assert response.status_code in (200, 201, 207), f"{path}: {response.text}"
            return dict(response.json())

        created = await post(
            "/v1/shipments",
            {
                "tracking_number": TRACKING_NUMBER,
                "shopper_name": "Camille",
                "shopper_language": "fr",
                "promised_at": (now + timedelta(hours=3)).isoformat(),
                "profile": "pharma-2-8",
                "origin": "Lyon Gerland",
                "destination": "Villeurbanne",
                "origin_lat": ROUTE[0][0],
                "origin_lon": ROUTE[0][1],
                "destination_lat": 45.7712,
                "destination_lon": 4.8890,
                "brand": {"name": "Pharmacie du Parc", "primary_color": "#0b6e4f"},
                "parcels": [{"parcel_id": PARCEL, "description": "Insulin, 2-8 °C"}],
            },
        )
        await post("/v1/vehicles", {"vehicle_id": VAN, "name": "Van LY-07", "gateway_id": GATEWAY})
        await post(
            "/v1/custody",
            {"parcel_id": PARCEL, "vehicle_id": VAN, "device_id": TAG, "from_time": t0.isoformat()},
        )
        await post(
            "/v1/checkpoints",
            [
                {
                    "tracking_number": TRACKING_NUMBER,
                    "source": "demo-carrier",
                    "external_id": f"cp-{i}",
                    "time": (t0 + timedelta(minutes=minute)).isoformat(),
                    "status": status,
                    "message": message,
                    "location": location,
                }
                for i, (minute, status, message, location) in enumerate(
                    [
                        (-60, "InfoReceived", "Order registered", None),
                        (0, "InTransit", "Picked up at the depot", "Lyon Gerland"),
                        (110, "OutForDelivery", "With the driver", "Lyon 3e"),
                    ]
                )
            ],
        )
        await post("/v1/users", {"name": AGENT, "role": "agent", "password": AGENT_PASSWORD})
    insert_readings(
        url, [(t0 + timedelta(minutes=m), TAG, m + 1, _temperature(m)) for m in range(0, 120, 2)]
    )
    insert_positions(
        url,
        [
            (t0 + timedelta(minutes=12 * i), GATEWAY, i + 1, GATEWAY, lat, lon)
            for i, (lat, lon) in enumerate(ROUTE)
        ],
    )
    await judge(url)  # the fixes tracked, the alert and its exception stored, as ingest would
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT exception_id FROM exceptions e JOIN shipments s USING (shipment_id)"
            " WHERE s.tracking_number = %s AND e.kind = 'temperature'",
            (TRACKING_NUMBER,),
        ).fetchone()
    assert row is not None, "the rule runner opened no exception"
    exception_id = int(row[0])
    token = created["access_token"]
    return Demo(token, TRACKING_NUMBER, exception_id, t0)
