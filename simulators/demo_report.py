"""What ``coldtrail demo`` prints: the welcome with its links (tools read the shopper tracking
and ``ops view`` lines), and the summary of what happened (parcels, exceptions, e-mails)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from coldtrail import topics
from simulators import seeding

if TYPE_CHECKING:
    from coldtrail.localservices.broker import AsyncLocalBroker
    from simulators.demo import Demo
    from simulators.mailcatcher import MailCatcher

DEMO_AGENT = "agent"
"""The ops user the demo creates for its console (role agent, a password made up per run)."""


@dataclass(slots=True)
class ParcelSummary:
    tracking_number: str
    parcel_id: str
    vehicle_id: str
    device_id: str
    readings: int = 0
    positions: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    """The stored temperature alerts (what the condition is out of spec for)."""
    condition: str = "no_data"
    """The rule engine's stored verdict on the parcel (docs/profiles.md)."""
    max_temperature_c: float | None = None
    tracking_url: str = ""


def print_welcome(
    demo: Demo,
    api: str,
    broker: AsyncLocalBroker,
    shipments: list[seeding.RegisteredShipment],
    catcher: MailCatcher,
) -> None:
    excursion = next((s for s in shipments if s.excursion), shipments[0])
    gateway = demo.plan.vans[0].gateway_id
    lines = [
        "",
        "coldtrail demo is running "
        + (f"for {demo.args.duration:.0f} s" if demo.args.duration else "(Ctrl-C to stop)"),
        "",
        f"  shopper page      {excursion.page_url}",
        f"                    (parcel {excursion.parcel_id}: its van's compressor fails after"
        " ~10 s; its exception opens within ~2 min)",
        f"  shopper tracking  {excursion.tracking_url}",
        f"  ops console       {api}/ops  (sign in as {DEMO_AGENT} / {demo.agent_password})",
        f"  KPIs              {api}/ops#/kpis",
        f"  API docs          {api}/docs",
        f"  ops view          curl -H 'Authorization: Bearer {demo.ops_token}' {api}/v1/shipments",
        f"  broker            {broker.url} ({broker.kind})",
        f"  try a bad message mosquitto_pub -h 127.0.0.1 -p {urlsplit(broker.url).port}"
        f" -t {topics.telemetry(gateway)} -m garbage",
        f"  notifications     coldtrail alerts notifications --database-url {demo._db_shown}",
        "                    "
        + (
            "ops notices go to your COLDTRAIL_NOTIFY_OPS_URLS"
            if os.environ.get("COLDTRAIL_NOTIFY_OPS_URLS")
            else "no ops channel in the demo: notices are recorded as skipped"
            " (set COLDTRAIL_NOTIFY_OPS_URLS to an apprise URL to send them)"
        ),
        f"  shoppers' e-mails {catcher.folder}/  (caught by smtp://127.0.0.1:{catcher.port})",
        "",
        "  all shipments:",
        *(f"    {s.tracking_number}  {s.page_url}" for s in shipments),
        "",
    ]
    print("\n".join(lines), flush=True)


async def summarize(
    client: httpx.AsyncClient, shipments: list[seeding.RegisteredShipment]
) -> list[ParcelSummary]:
    out = []
    for s in shipments:
        summary = ParcelSummary(
            s.tracking_number,
            s.parcel_id,
            s.vehicle_id,
            s.logger_mac,
            tracking_url=s.tracking_url,
        )
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 5000}
            if cursor:
                params["cursor"] = cursor
            page = await client.get(f"/v1/shipments/{s.tracking_number}/timeline", params=params)
            page.raise_for_status()
            body = page.json()
            for item in body["items"]:
                if item["kind"] == "reading":
                    summary.readings += 1
                    t = item.get("temperature_c")
                    if t is not None:
                        summary.max_temperature_c = max(t, summary.max_temperature_c or t)
                elif item["kind"] == "position":
                    summary.positions += 1
            summary.alerts = body.get("alerts", summary.alerts)
            summary.condition = body["summary"]["condition"]["state"]
            cursor = body.get("next_cursor")
            if not cursor:
                break
        out.append(summary)
    return out


def print_summary(
    summary: list[ParcelSummary],
    exceptions: list[dict[str, Any]],
    emails: list[dict[str, Any]],
    catcher: MailCatcher,
) -> None:
    print("\n  tracking number        readings  positions  max °C  alerts  condition", flush=True)
    for p in summary:
        peak = "" if p.max_temperature_c is None else f"{p.max_temperature_c:.1f}"
        print(
            f"  {p.tracking_number:<22} {p.readings:>8}  {p.positions:>9}  {peak:>6}"
            f"  {len(p.alerts):>6}  {p.condition}",
            flush=True,
        )
    lines = [f"\n  exceptions: {len(exceptions)}"]
    lines += [
        f"    #{e['exception_id']} {e['tracking_number']}  {e['title']}  ({e['state']})"
        for e in exceptions
    ]
    lines.append(f"  shoppers' e-mails: {len(emails)} in {catcher.folder}/")
    lines += [f"    {', '.join(m['to'])}  {m['subject']}" for m in emails]
    print("\n".join(lines), flush=True)
