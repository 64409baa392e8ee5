"""The shipment report (PDF and CSV) against a real PostgreSQL: its figures, recomputed here from
the seeded readings; its chart, rendered to PNG; its content hash, the same in both formats."""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pypdfium2 as pdfium
import pytest
from PIL import Image

from tests.integration.api.conftest import (
    OPS,
    create_shipment,
    insert_positions,
    insert_readings,
    post,
    running,
)
from tests.integration.api.exception_rows import (
    AS_VERA,
    append_entry,
    insert_alert,
    open_exception,
    settings_with_users,
)

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[3] / "build" / "artifacts"
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
TN = "TN-REPORT-1"
BAND_RGB = (0xCD, 0xEC, 0xCD)  # api/reports/chart.py BAND_FILL
LINE_RGB = (0x1F, 0x5F, 0xA8)
RED_RGB = (0xD6, 0x27, 0x28)
MISSING_MINUTES = {30, 31, 32}  # tag-1 lost three readings (seq 30-32)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def tag1_temperature(minute: int) -> float:
    if 60 <= minute < 76:
        return 9.5 + (minute % 3) / 10  # a 16-minute excursion above 8 °C
    return round(5.0 + 1.5 * math.sin(minute / 9), 3)


def tag1_rows() -> list[tuple[datetime, str, int, float]]:
    return [
        (at(m), "tag-1", m, tag1_temperature(m)) for m in range(120) if m not in MISSING_MINUTES
    ]


def tag2_rows() -> list[tuple[datetime, str, int, float]]:
    return [(at(m), "tag-2", 1000 + m // 2, 4.0 + (m % 7) / 10) for m in range(0, 120, 2)]


async def seed(client: httpx.AsyncClient, url: str) -> None:
    await post(
        client, "/v1/vehicles", {"vehicle_id": "van-1", "name": "Van 1", "gateway_id": "gw-1"}
    )
    await create_shipment(
        client,
        TN,
        "P1",
        "P2",
        profile="pharma-2-8",
        origin="Lyon",
        destination="Grenoble",
        shopper_language="fr",
        promised_at=at(24 * 60).isoformat(),
    )
    for parcel, device in (("P1", "tag-1"), ("P2", "tag-2")):
        await post(
            client,
            "/v1/custody",
            {
                "parcel_id": parcel,
                "vehicle_id": "van-1",
                "device_id": device,
                "from_time": at(0).isoformat(),
            },
        )
    insert_readings(url, tag1_rows() + tag2_rows())
    # Readings before custody belong to no parcel of the report.
    insert_readings(url, [(at(-10), "tag-1", 99_999, 30.0)])
    insert_positions(
        url, [(at(m), "gps-1", m, "gw-1", 45.75 + m * 0.001, 4.85) for m in range(0, 120, 5)]
    )
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO stops (device_id, started_at, ended_at, last_seen, lat, lon, fixes)"
            " VALUES ('gps-1', %s, %s, %s, 45.8, 4.85, 4)",
            (at(40), at(52), at(52)),
        )
        conn.execute(
            "INSERT INTO checkpoints (shipment_id, source, external_id, checkpoint_time, status,"
            " sub_status, location) SELECT shipment_id, 'carrier-x', 'e1', %s, 'InTransit',"
            " 'InTransit_001', 'Lyon hub' FROM shipments WHERE tracking_number = %s",
            (at(5), TN),
        )
    exception_id = open_exception(url, TN, at(76))
    insert_alert(
        url, TN, ("parcel", "P1"), at(60), ended_at=at(76), peak=9.7, exception_id=exception_id
    )
    append_entry(url, exception_id, at(90), "alice", "acknowledged", reason="looking at it")
    append_entry(
        url,
        exception_id,
        at(100),
        "alice",
        "resolved",
        {"resolution": "accepted_with_deviation"},
        reason="stability data covers 16 min at 10 °C",
    )
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE exceptions SET state = 'resolved', resolution = 'accepted_with_deviation',"
            " assignee = 'alice', resolved_at = %s WHERE exception_id = %s",
            (at(100), exception_id),
        )


# --- figures recomputed here, independently of api/reports ----------------------------------


def expected_stats(rows: list[tuple[datetime, str, int, float]]) -> dict[str, float]:
    temps = [r[3] for r in rows]
    weighted = weight = out_s = 0.0
    for (t, _, _, temp), (t_next, _, _, _) in itertools.pairwise(rows):
        held = min((t_next - t).total_seconds(), 15 * 60)
        weighted += held * math.exp(-10_000 / (temp + 273.15))
        weight += held
        if temp > 8.0 or temp < 2.0:
            out_s += held
    return {
        "readings": len(rows),
        "min_c": min(temps),
        "max_c": max(temps),
        "mean_c": sum(temps) / len(temps),
        "mkt_c": 10_000 / -math.log(weighted / weight) - 273.15,
        "out_of_band_readings": sum(1 for t in temps if t > 8.0 or t < 2.0),
        "out_of_band_s": out_s,
    }


def parse_csv(text: str) -> tuple[str, dict[str, list[dict[str, str]]], list[dict[str, str]]]:
    """(the hash on line 1, summary sections as dicts, the reading rows)."""
    lines = text.splitlines(keepends=True)
    first = next(csv.reader([lines[0]]))
    assert first[0] == "# content_sha256" and first[2] == "generated_at"
    columns: dict[str, list[str]] = {}
    sections: dict[str, list[dict[str, str]]] = {}
    body = [line for line in lines[1:] if not line.startswith("#")]
    for row in csv.reader(line for line in lines[1:] if line.startswith("#")):
        if row[0] == "# columns":
            columns[row[1]] = row[2:]
            sections[row[1]] = []
        else:
            name = row[0].removeprefix("# ")
            sections[name].append(dict(zip(columns[name], row[1:], strict=True)))
    readings = list(csv.DictReader(body))
    return first[1], sections, readings


async def get_csv(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.get(f"/v1/shipments/{TN}/report.csv", headers=OPS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return response


async def get_pdf(client: httpx.AsyncClient, lang: str | None = None) -> httpx.Response:
    params = {"lang": lang} if lang else {}
    response = await client.get(f"/v1/shipments/{TN}/report.pdf", headers=OPS, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response


def pdf_texts(content: bytes) -> list[str]:
    document = pdfium.PdfDocument(content)
    try:
        return [page.get_textpage().get_text_range() for page in document]
    finally:
        document.close()


# --- tests ----------------------------------------------------------------------------------


async def test_csv_figures_match_the_readings(client: httpx.AsyncClient, migrated_url: str) -> None:
    await seed(client, migrated_url)
    response = await get_csv(client)
    digest, sections, readings = parse_csv(response.text)

    # The hash covers every byte after line 1, and is the header's.
    body = response.content.split(b"\n", 1)[1]
    assert hashlib.sha256(body).hexdigest() == digest == response.headers["x-content-sha256"]

    (shipment,) = sections["shipment"]
    assert shipment["tracking_number"] == TN
    assert (shipment["profile"], shipment["band_low_c"], shipment["band_high_c"]) == (
        "pharma-2-8",
        "2.000",
        "8.000",
    )
    assert (shipment["origin"], shipment["destination"]) == ("Lyon", "Grenoble")

    parcels = {p["parcel_id"]: p for p in sections["parcel"]}
    for parcel_id, rows in (("P1", tag1_rows()), ("P2", tag2_rows())):
        want = expected_stats(rows)
        got = parcels[parcel_id]
        assert int(got["readings"]) == want["readings"]
        assert int(got["out_of_band_readings"]) == want["out_of_band_readings"]
        for key in ("min_c", "max_c", "mean_c", "mkt_c", "out_of_band_s"):
            assert float(got[key]) == pytest.approx(want[key], abs=0.0006), (parcel_id, key)
    assert float(parcels["P1"]["out_of_band_s"]) == 16 * 60  # minutes 60..75 held 1 min each

    devices = {d["device_id"]: d for d in sections["device"]}
    tag1 = devices["tag-1"]
    assert int(tag1["readings"]) == 117
    assert int(tag1["missing_seq"]) == 3
    assert int(tag1["long_gaps"]) == 1  # 4 min > 3 x the 1 min median
    assert float(tag1["longest_gap_s"]) == 240.0
    assert float(tag1["percent_complete"]) == pytest.approx(100 * 117 / 120, abs=0.0006)
    assert (int(devices["tag-2"]["missing_seq"]), int(devices["tag-2"]["long_gaps"])) == (0, 0)

    (excursion,) = sections["excursion"]
    assert (excursion["subject_id"], excursion["peak"], excursion["duration_s"]) == (
        "P1",
        "9.700",
        "960.000",
    )
    (route,) = sections["route"]
    assert int(route["fixes"]) == 24
    # 23 steps of 0.005° due north along one meridian
    assert float(route["distance_km"]) == pytest.approx(
        23 * math.radians(0.005) * 6371.0088, abs=0.0006
    )
    (stop,) = sections["stop"]
    assert float(stop["duration_s"]) == 12 * 60
    (checkpoint,) = sections["checkpoint"]
    assert (checkpoint["status"], checkpoint["location"]) == ("InTransit", "Lyon hub")
    (case,) = sections["exception"]
    assert (case["audit_entries"], case["audit_chain"]) == ("3", "intact")
    assert [a["action"] for a in sections["audit"]] == ["opened", "acknowledged", "resolved"]

    # Every reading in custody, once, in parcel then time order; the one before custody is not.
    assert len(readings) == 117 + 60
    p1 = [r for r in readings if r["parcel_id"] == "P1"]
    assert [float(r["temperature_c"]) for r in p1] == [r[3] for r in tag1_rows()]
    assert [r["in_band"] for r in p1].count("false") == 16
    assert p1[0]["time"] == "2026-05-04T08:00:00.000000Z"


async def test_pdf_pages_chart_and_hash(client: httpx.AsyncClient, migrated_url: str) -> None:
    await seed(client, migrated_url)
    csv_digest = (await get_csv(client)).headers["x-content-sha256"]
    response = await get_pdf(client, "en")
    assert response.headers["x-content-sha256"] == csv_digest

    texts = pdf_texts(response.content)
    assert len(texts) >= 2  # header and charts, then the tables
    assert "Shipment temperature report" in texts[0] and TN in texts[0]
    assert "Temperature over the trip" in texts[0]
    everything = "\n".join(texts)
    for heading in ("Statistics per parcel", "Data completeness per device", "Route summary"):
        assert heading in everything
    assert "audit chain intact (3 entries)" in everything
    assert "accepted_with_deviation" in everything and "Lyon hub" in everything
    for text in texts:  # the footer of every page
        assert csv_digest in text.replace("\r", "").replace("\n", "")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    document = pdfium.PdfDocument(response.content)
    try:  # every page, for a person to look at; page 1 is checked below
        pages = [page.render(scale=2).to_pil().convert("RGB") for page in document]
    finally:
        document.close()
    for number, page in enumerate(pages, 1):
        page.save(ARTIFACTS / f"report-page{number}.png")
    image = pages[0]
    counts = colour_counts(image)
    # The band is shaded, the line drawn, the excursion in red: a chart, not a blank page.
    assert counts[BAND_RGB] > 20_000
    assert counts[LINE_RGB] > 1_000
    assert counts[RED_RGB] > 100


def colour_counts(image: Image.Image) -> dict[tuple[int, int, int], int]:
    wanted = (BAND_RGB, LINE_RGB, RED_RGB)
    counts = dict.fromkeys(wanted, 0)
    for count, colour in image.getcolors(maxcolors=1 << 24) or []:
        for target in wanted:
            if all(abs(a - b) <= 6 for a, b in zip(colour, target, strict=True)):
                counts[target] += count
    return counts


async def test_language(client: httpx.AsyncClient, migrated_url: str) -> None:
    await seed(client, migrated_url)
    default = pdf_texts((await get_pdf(client)).content)  # the shipment's language: fr
    assert "Rapport de température de l'expédition" in default[0]
    english = pdf_texts((await get_pdf(client, "en")).content)
    assert "Shipment temperature report" in english[0]
    response = await client.get(f"/v1/shipments/{TN}/report.pdf?lang=de", headers=OPS)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_hash_follows_the_data(client: httpx.AsyncClient, migrated_url: str) -> None:
    await seed(client, migrated_url)
    first = (await get_csv(client)).headers["x-content-sha256"]
    assert (await get_csv(client)).headers["x-content-sha256"] == first  # same data, same hash
    assert (await get_pdf(client)).headers["x-content-sha256"] == first

    insert_readings(migrated_url, [(at(121), "tag-2", 5000, 4.2)])
    second = (await get_csv(client)).headers["x-content-sha256"]
    assert second != first
    pdf = await get_pdf(client)
    assert pdf.headers["x-content-sha256"] == second
    assert second in "".join(pdf_texts(pdf.content)).replace("\r", "").replace("\n", "")


async def test_broken_audit_chain_is_reported(client: httpx.AsyncClient, migrated_url: str) -> None:
    await seed(client, migrated_url)
    with psycopg.connect(migrated_url) as conn:
        conn.execute("UPDATE exception_audit SET reason = 'edited later' WHERE seq = 2")
    _, sections, _ = parse_csv((await get_csv(client)).text)
    assert sections["exception"][0]["audit_chain"] == "BROKEN at seq 2"
    assert "audit chain BROKEN at entry 2" in "\n".join(
        pdf_texts((await get_pdf(client, "en")).content)
    )


async def test_shipment_without_readings(client: httpx.AsyncClient) -> None:
    await create_shipment(client, "TN-EMPTY", "E1")
    response = await client.get("/v1/shipments/TN-EMPTY/report.csv", headers=OPS)
    assert response.status_code == 200
    _, sections, readings = parse_csv(response.text)
    assert readings == []
    assert sections["parcel"][0]["readings"] == "0" and sections["parcel"][0]["min_c"] == ""
    assert sections["shipment"][0]["band_low_c"] == ""  # no profile, no band
    texts = pdf_texts((await get_pdf_of(client, "TN-EMPTY")).content)
    assert "No temperature reading in custody for this parcel." in texts[0]


async def get_pdf_of(client: httpx.AsyncClient, tracking_number: str) -> httpx.Response:
    response = await client.get(
        f"/v1/shipments/{tracking_number}/report.pdf", headers=OPS, params={"lang": "en"}
    )
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("fmt", ["pdf", "csv"])
async def test_access(migrated_url: str, fmt: str) -> None:
    async with running(settings_with_users(migrated_url)) as client:
        shipment: dict[str, Any] = await create_shipment_as_admin(client)
        path = f"/v1/shipments/{TN}/report.{fmt}"
        assert (await client.get(path, headers=AS_VERA)).status_code == 200  # a viewer may
        for headers, params in (
            ({}, {}),
            ({"Authorization": "Bearer not-a-token"}, {}),
            ({}, {"token": shipment["access_token"]}),  # a shopper's link is not enough
        ):
            response = await client.get(path, headers=headers, params=params)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"
        response = await client.get(f"/v1/shipments/TN-NOPE/report.{fmt}", headers=AS_VERA)
        assert response.status_code == 404
        assert response.json() == {
            "error": {"code": "shipment_not_found", "message": "no shipment 'TN-NOPE'"}
        }


async def create_shipment_as_admin(client: httpx.AsyncClient) -> dict[str, Any]:
    from tests.integration.api.exception_rows import AS_ALICE

    response = await client.post(
        "/v1/shipments", json={"tracking_number": TN, "parcels": [{"parcel_id": "P1"}]},
        headers=AS_ALICE,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return dict(response.json())


CALIBRATION = '{"temperature_c": {"slope": 1.0, "offset": -0.2, "certificate": "CAL-2026-7"}}'


async def test_calibrated_readings_are_shown_with_their_raw_values_and_calibration(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await seed(client, migrated_url)
    with psycopg.connect(migrated_url) as conn:  # tag-2 calibrated on its gateway (0024)
        conn.execute(
            "UPDATE readings SET raw_temperature_c = temperature_c + 0.2, calibration = %s"
            " WHERE device_id = 'tag-2'",
            (CALIBRATION,),
        )
    _, sections, readings = parse_csv((await get_csv(client)).text)
    assert sections["calibration"] == [
        {
            "device_id": "tag-2",
            "quantity": "temperature_c",
            "slope": "1.0",
            "offset": "-0.2",
            "certificate": "CAL-2026-7",
            "readings": str(len(tag2_rows())),
            "first_at": "2026-05-04T08:00:00.000000Z",
            "last_at": "2026-05-04T09:58:00.000000Z",
        }
    ]
    for row in readings:
        if row["device_id"] == "tag-2":
            assert float(row["raw_temperature_c"]) == pytest.approx(
                float(row["temperature_c"]) + 0.2
            )
        else:
            assert row["raw_temperature_c"] == "" and row["raw_humidity_pct"] == ""
    everything = "\n".join(pdf_texts((await get_pdf(client, "en")).content))
    assert "Calibration applied on the gateway" in everything
    assert "CAL-2026-7" in everything and "-0.2" in everything
    french = "\n".join(pdf_texts((await get_pdf(client, "fr")).content))
    assert "Étalonnage appliqué par la passerelle" in french


async def test_report_without_calibration_says_so(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    await seed(client, migrated_url)
    _, sections, readings = parse_csv((await get_csv(client)).text)
    assert sections["calibration"] == []
    assert {row["raw_temperature_c"] for row in readings} == {""}
    everything = "\n".join(pdf_texts((await get_pdf(client, "en")).content))
    assert "No reading was calibrated." in everything
