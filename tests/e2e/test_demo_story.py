"""``coldtrail demo`` tells its story in about three minutes (issue 17's acceptance, shortened to
what the story needs): the compressor failure opens its exception within about two minutes under
the demo profile, two parcels are delivered by carrier checkpoints, ingest's metrics take a free
port, the shoppers' e-mails go to the demo's mail catcher, and the summary lists the exception
and every e-mail the dispatcher sent."""

import asyncio
import json
import os
import sys
from datetime import datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.e2e

DURATION_S = 150


def rows(database_url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


def read_mail(path: str) -> object:
    return BytesParser(policy=policy.default).parsebytes(Path(path).read_bytes())


async def test_the_demo_tells_the_story_in_three_minutes(database_url: str, tmp_path: Path) -> None:
    summary_file, mail_dir = tmp_path / "s.json", tmp_path / "mail"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coldtrail.cli", "demo", "--duration", str(DURATION_S),
        "--api-port", "0", "--summary-json", str(summary_file), "--mail-dir", str(mail_dir),
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), DURATION_S + 120)
    assert process.returncode == 0, out.decode() + err.decode()
    printed = out.decode()
    assert "exception opens within ~2 min" in printed
    assert f"shoppers' e-mails {mail_dir}/" in printed
    summary = json.loads(summary_file.read_text())

    # The exception of the hot parcel, opened within about two minutes of its shipment.
    [exception] = summary["exceptions"]
    hot = next(p for p in summary["parcels"] if p["max_temperature_c"] > 8.0)
    assert (exception["tracking_number"], exception["kind"]) == (
        hot["tracking_number"],
        "temperature",
    )
    assert exception["state"] == "open"
    [(created,)] = rows(
        database_url,
        f"SELECT created_at FROM shipments WHERE tracking_number = '{hot['tracking_number']}'",
    )
    opened = datetime.fromisoformat(exception["opened_at"])
    assert (opened - created).total_seconds() < 150  # type: ignore[operator]
    [(profile,)] = rows(
        database_url,
        f"SELECT profile FROM shipments WHERE tracking_number = '{hot['tracking_number']}'",
    )
    assert profile == "demo-2-8"

    # Two parcels delivered, the others on their way; every shipment has a promised date, the
    # brand and the shopper's e-mail address.
    delivered = [c["tracking_number"] for c in summary["checkpoints"] if c["status"] == "Delivered"]
    assert len(delivered) == 2 and hot["tracking_number"] not in delivered
    shipments = rows(
        database_url,
        "SELECT promised_at IS NOT NULL, brand->>'name', shopper_contact FROM shipments",
    )
    assert len(shipments) == 6
    assert all(p and brand and "@" in (contact or "") for p, brand, contact in shipments)
    ended = rows(database_url, "SELECT count(*) FROM custody WHERE end_reason = 'delivered'")
    assert ended == [(2,)]

    # The shoppers' channel is the mail catcher, and the summary lists every e-mail the
    # dispatcher sent, each kept in the folder as it arrived.
    channels = rows(
        database_url, "SELECT label FROM notification_channels WHERE audience = 'shopper'"
    )
    assert channels and all(str(label).startswith("mailto://127.0.0.1") for (label,) in channels)
    sent = rows(
        database_url,
        "SELECT s.shopper_contact FROM notifications n JOIN shipments s USING (shipment_id)"
        " WHERE n.audience = 'shopper' AND n.state = 'sent'",
    )
    assert sorted(to for m in summary["emails"] for to in m["to"]) == sorted(c for (c,) in sent)
    for mail in summary["emails"]:
        saved = read_mail(mail["file"])
        assert saved["Subject"] == mail["subject"]  # type: ignore[index]
        assert Path(mail["file"]).parent == mail_dir
    assert "exceptions: 1" in printed and f"shoppers' e-mails: {len(summary['emails'])}" in printed
