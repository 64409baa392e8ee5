"""The exception workflow: transitions, the hash-chained audit trail, the queue and its SLA."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.api.conftest import create_shipment, running
from tests.integration.api.exception_rows import (
    AS_ALICE,
    AS_BOB,
    AS_LEGACY,
    AS_VERA,
    append_entry,
    audit_rows,
    insert_alert,
    open_exception,
    recompute_chain,
    settings_with_users,
)

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.fixture
async def api(migrated_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings_with_users(migrated_url)) as client:
        await create_shipment(client, "TN-A", "A1", "A2")
        await create_shipment(client, "TN-B", "B1")
        yield client


async def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


async def test_a_full_workflow_leaves_an_intact_chained_audit_trail(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    exc = open_exception(migrated_url, "TN-A", ago(10))
    alert = insert_alert(migrated_url, "TN-A", ("parcel", "A1"), ago(11), exception_id=exc)
    base = f"/v1/exceptions/{exc}"

    ack = await ok(await api.post(f"{base}/acknowledge", headers=AS_BOB))
    assert ack["exception"]["state"] == "acknowledged"
    assert ack["entry"]["seq"] == 2 and ack["entry"]["actor"] == "bob"
    assert ack["entry"]["detail"] == {"from": "open", "to": "acknowledged"}
    assigned = await ok(
        await api.post(
            f"{base}/assign", json={"assignee": "bob", "reason": "on shift"}, headers=AS_BOB
        )
    )
    assert assigned["exception"]["assignee"] == "bob"
    again = await ok(await api.post(f"{base}/assign", json={"assignee": "bob"}, headers=AS_BOB))
    assert again["entry"] is None  # no change, no entry
    comment = await ok(
        await api.post(f"{base}/comments", json={"text": "Called the driver."}, headers=AS_BOB),
        201,
    )
    assert comment["entry"]["detail"] == {"text": "Called the driver."}
    await ok(await api.post(f"{base}/investigate", json={"reason": "check"}, headers=AS_LEGACY))
    resolved = await ok(
        await api.post(
            f"{base}/resolve",
            json={"resolution": "quarantined", "reason": "12 °C for 40 min"},
            headers=AS_ALICE,
        )
    )
    summary = resolved["exception"]
    assert (summary["state"], summary["resolution"]) == ("resolved", "quarantined")
    assert summary["resolved_at"] == resolved["entry"]["at"]
    assert summary["acknowledged_at"] == ack["entry"]["at"]

    detail = await ok(await api.get(base, headers=AS_VERA))
    assert detail["chain_intact"] is True and detail["first_broken_seq"] is None
    assert [a["alert_id"] for a in detail["alerts"]] == [alert]
    assert detail["alert_count"] == 1
    assert detail["comments"] == [
        {
            "seq": 4,
            "at": comment["entry"]["at"],
            "author": "bob",
            "text": "Called the driver.",
        }
    ]
    steps = [(e["seq"], e["actor"], e["action"], e["detail"], e["reason"]) for e in detail["audit"]]
    assert steps == [
        (1, "system", "opened", {"kind": "excursion"}, None),
        (2, "bob", "acknowledged", {"from": "open", "to": "acknowledged"}, None),
        (3, "bob", "assigned", {"from": None, "to": "bob"}, "on shift"),
        (4, "bob", "comment", {"text": "Called the driver."}, None),
        (5, "ops", "investigating", {"from": "acknowledged", "to": "investigating"}, "check"),
        (
            6,
            "alice",
            "resolved",
            {"from": "investigating", "to": "resolved", "resolution": "quarantined"},
            "12 °C for 40 min",
        ),
    ]
    times = [e["at"] for e in detail["audit"]]
    assert times == sorted(times)
    # The chain checks from the API's JSON alone, as an auditor would check it.
    assert recompute_chain(exc, detail["audit"])
    trail = await ok(await api.get(f"{base}/audit", headers=AS_VERA))
    assert trail["entries"] == detail["audit"] and trail["chain_intact"] is True

    # Final: no change, assignment or comment, and nothing written by the refusals.
    for path, body in [
        ("acknowledge", None),
        ("investigate", None),
        ("resolve", {"resolution": "destroyed", "reason": "x"}),
        ("assign", {"assignee": "alice"}),
        ("comments", {"text": "late note"}),
    ]:
        refused = await api.post(f"{base}/{path}", json=body, headers=AS_ALICE)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["error"]["code"] == "exception_resolved"
        assert "a resolved exception is final" in refused.json()["error"]["message"]
    assert len(audit_rows(migrated_url, exc)) == 6


async def test_only_the_allowed_transitions_are_accepted(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    exc = open_exception(migrated_url, "TN-A", ago(5))
    base = f"/v1/exceptions/{exc}"
    early = await api.post(f"{base}/investigate", headers=AS_BOB)
    assert early.status_code == 409
    assert early.json()["error"] == {
        "code": "invalid_transition",
        "message": f"exception {exc} is open: it cannot become investigating (allowed: open →"
        " acknowledged → investigating → resolved; open or acknowledged → resolved directly"
        " with a resolution and a reason)",
    }
    await ok(await api.post(f"{base}/acknowledge", json={}, headers=AS_BOB))
    twice = await api.post(f"{base}/acknowledge", headers=AS_BOB)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "invalid_transition"
    assert [r[2] for r in audit_rows(migrated_url, exc)] == ["opened", "acknowledged"]

    # open -> resolved and acknowledged -> resolved, directly, with a resolution and a reason.
    direct = open_exception(migrated_url, "TN-B", ago(5), kind="shock")
    for exception_id in (direct, exc):
        done = await ok(
            await api.post(
                f"/v1/exceptions/{exception_id}/resolve",
                json={"resolution": "accepted_with_deviation", "reason": "within stability data"},
                headers=AS_BOB,
            )
        )
        assert done["exception"]["state"] == "resolved"
    direct_entry = audit_rows(migrated_url, direct)[-1]
    assert direct_entry[3] == {
        "from": "open",
        "to": "resolved",
        "resolution": "accepted_with_deviation",
    }


async def test_assigning_and_unassigning(api: httpx.AsyncClient, migrated_url: str) -> None:
    exc = open_exception(migrated_url, "TN-A", ago(5))
    path = f"/v1/exceptions/{exc}/assign"
    first = await ok(await api.post(path, json={"assignee": "vera"}, headers=AS_BOB))
    assert (first["exception"]["assignee"], first["exception"]["state"]) == ("vera", "open")
    moved = await ok(await api.post(path, json={"assignee": "bob"}, headers=AS_BOB))
    assert moved["entry"]["detail"] == {"from": "vera", "to": "bob"}
    freed = await ok(await api.post(path, json={"assignee": None, "reason": "off"}, headers=AS_BOB))
    assert freed["exception"]["assignee"] is None
    assert (freed["entry"]["detail"], freed["entry"]["reason"]) == (
        {"from": "bob", "to": None},
        "off",
    )
    queue = await ok(await api.get("/v1/exceptions", params={"assigned": "false"}, headers=AS_BOB))
    assert [i["exception_id"] for i in queue["items"]] == [exc]


@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        ("resolve", {"resolution": "quarantined"}, "body.reason"),
        ("resolve", {"resolution": "quarantined", "reason": "   "}, "body.reason"),
        ("resolve", {"reason": "why"}, "body.resolution"),
        ("resolve", {"resolution": "lost", "reason": "why"}, "body.resolution"),
        ("resolve", None, "body"),
        ("assign", {"assignee": "two words"}, "body.assignee"),
        ("assign", {}, "body.assignee"),
        ("comments", {"text": ""}, "body.text"),
        ("comments", {"text": "nul \x00 byte"}, "body.text"),
        ("comments", {"text": "x", "extra": 1}, "body.extra"),
        ("acknowledge", {"reason": "x" * 2001}, "body.reason"),
        ("acknowledge", {"why": "x"}, "body.why"),
    ],
)
async def test_bad_bodies_are_refused_with_the_field_named(
    api: httpx.AsyncClient, migrated_url: str, path: str, body: Any, location: str
) -> None:
    exc = open_exception(migrated_url, "TN-A", ago(5))
    response = await api.post(f"/v1/exceptions/{exc}/{path}", json=body, headers=AS_BOB)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(location)
    assert len(audit_rows(migrated_url, exc)) == 1


async def test_unknown_or_malformed_exception_ids(api: httpx.AsyncClient) -> None:
    for method, suffix, body in [
        ("GET", "", None),
        ("GET", "/audit", None),
        ("POST", "/acknowledge", None),
        ("POST", "/investigate", None),
        ("POST", "/resolve", {"resolution": "refunded", "reason": "x"}),
        ("POST", "/assign", {"assignee": "bob"}),
        ("POST", "/comments", {"text": "x"}),
    ]:
        missing = await api.request(method, f"/v1/exceptions/424242{suffix}", json=body,
                                    headers=AS_ALICE)  # fmt: skip
        assert missing.status_code == 404, (suffix, missing.text)
        assert missing.json()["error"] == {
            "code": "exception_not_found",
            "message": "no exception 424242",
        }
        for bad in ("0", "-1", "abc", str(2**63)):
            response = await api.request(
                method, f"/v1/exceptions/{bad}{suffix}", json=body, headers=AS_ALICE
            )
            assert response.status_code == 422, (bad, suffix, response.text)


async def test_a_tampered_audit_entry_is_detected(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    exc = open_exception(migrated_url, "TN-A", ago(5))
    base = f"/v1/exceptions/{exc}"
    await ok(await api.post(f"{base}/acknowledge", json={"reason": "mine"}, headers=AS_BOB))
    await ok(await api.post(f"{base}/comments", json={"text": "first"}, headers=AS_BOB), 201)
    await ok(await api.post(f"{base}/comments", json={"text": "second"}, headers=AS_BOB), 201)
    assert (await ok(await api.get(f"{base}/audit", headers=AS_VERA)))["chain_intact"] is True

    with psycopg.connect(migrated_url) as conn:  # someone rewrites who acknowledged it
        conn.execute(
            "UPDATE exception_audit SET actor = 'alice' WHERE exception_id = %s AND seq = 2",
            (exc,),
        )
    for path in (base, f"{base}/audit"):
        body = await ok(await api.get(path, headers=AS_VERA))
        assert (body["chain_intact"], body["first_broken_seq"]) == (False, 2), path

    with psycopg.connect(migrated_url) as conn:  # put it back, then remove an entry instead
        conn.execute(
            "UPDATE exception_audit SET actor = 'bob' WHERE exception_id = %s AND seq = 2", (exc,)
        )
        conn.execute("DELETE FROM exception_audit WHERE exception_id = %s AND seq = 3", (exc,))
    trail = await ok(await api.get(f"{base}/audit", headers=AS_VERA))
    assert (trail["chain_intact"], trail["first_broken_seq"]) == (False, 4)


async def _wait_for_lock_waiters(url: str, count: int) -> None:
    """Until ``count`` other sessions wait on a row lock (a deadline, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + 30
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
            if row and row[0] >= count:
                return
            assert asyncio.get_running_loop().time() < deadline, "requests never queued"
            await asyncio.sleep(0.05)


async def test_concurrent_changes_queue_on_the_row_and_never_fork_the_chain(
    migrated_url: str,
) -> None:
    settings = settings_with_users(migrated_url)
    settings.database.pool_max = 8  # a connection for each request in flight
    async with running(settings) as api:
        await create_shipment(api, "TN-A", "A1")
        exc = open_exception(migrated_url, "TN-A", ago(5))
        base = f"/v1/exceptions/{exc}"
        # Hold the exception's row so that every request is in flight at the same time.
        blocker = await psycopg.AsyncConnection.connect(migrated_url)
        await blocker.execute("SELECT 1 FROM exceptions WHERE exception_id = %s FOR UPDATE", (exc,))
        requests = [
            api.post(f"{base}/acknowledge", headers=AS_BOB),
            api.post(f"{base}/acknowledge", headers=AS_ALICE),
            api.post(f"{base}/comments", json={"text": "one"}, headers=AS_BOB),
            api.post(f"{base}/comments", json={"text": "two"}, headers=AS_ALICE),
            api.post(f"{base}/assign", json={"assignee": "bob"}, headers=AS_ALICE),
        ]
        tasks = [asyncio.ensure_future(r) for r in requests]
        await _wait_for_lock_waiters(migrated_url, len(tasks))
        await blocker.commit()
        await blocker.close()
        responses = await asyncio.gather(*tasks)

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 201, 201, 409], [r.text for r in responses]
        acks = [r for r in responses[:2] if r.status_code == 200]
        assert len(acks) == 1  # the second acknowledge saw the first one's state
        trail = await ok(await api.get(f"{base}/audit", headers=AS_VERA))
        assert [e["seq"] for e in trail["entries"]] == [1, 2, 3, 4, 5]
        assert trail["chain_intact"] is True
        assert sorted(e["action"] for e in trail["entries"][1:]) == [
            "acknowledged",
            "assigned",
            "comment",
            "comment",
        ]


async def test_the_queue_filters_sorts_pages_and_tells_the_sla(
    api: httpx.AsyncClient, migrated_url: str
) -> None:
    # SLA to acknowledge (defaults): critical 30 min, warning 4 h, info 24 h.
    late_critical = open_exception(migrated_url, "TN-A", ago(40))
    fresh_critical = open_exception(migrated_url, "TN-B", ago(10))
    late_warning = open_exception(migrated_url, "TN-A", ago(300), kind="shock", severity="warning")
    acked_in_time = open_exception(migrated_url, "TN-B", ago(290), kind="shock", severity="warning")
    append_entry(migrated_url, acked_in_time, ago(230), "bob", "acknowledged",
                 {"from": "open", "to": "acknowledged"})  # fmt: skip
    acked_late = open_exception(migrated_url, "TN-A", ago(120), kind="battery", severity="critical")
    append_entry(migrated_url, acked_late, ago(60), "bob", "acknowledged",
                 {"from": "open", "to": "acknowledged"})  # fmt: skip
    info = open_exception(migrated_url, "TN-B", ago(1), kind="humidity", severity="info")
    with psycopg.connect(migrated_url) as conn:
        conn.execute(
            "UPDATE exceptions SET state = 'acknowledged', assignee = 'bob'"
            " WHERE exception_id = ANY(%s)",
            ([acked_in_time, acked_late],),
        )
    oldest_first = [late_warning, acked_in_time, acked_late, late_critical, fresh_critical, info]

    async def ids(**params: Any) -> list[int]:
        body = await ok(await api.get("/v1/exceptions", params=params, headers=AS_VERA))
        assert body["next_cursor"] is None
        return [item["exception_id"] for item in body["items"]]

    assert await ids() == oldest_first
    assert await ids(order="newest") == oldest_first[::-1]
    assert await ids(state="acknowledged") == [acked_in_time, acked_late]
    assert await ids(state=["open", "resolved"]) == [late_warning, late_critical, fresh_critical,
                                                     info]  # fmt: skip
    assert await ids(severity="warning") == [late_warning, acked_in_time]
    assert await ids(kind=["shock", "humidity"]) == [late_warning, acked_in_time, info]
    assert await ids(assignee="bob") == [acked_in_time, acked_late]
    assert await ids(assigned="false") == [late_warning, late_critical, fresh_critical, info]
    assert await ids(tracking_number="TN-B") == [acked_in_time, fresh_critical, info]
    since, until = ago(60).isoformat(), ago(5).isoformat()
    assert await ids(opened_since=since, opened_until=until) == [late_critical, fresh_critical]
    assert await ids(sla_breached="true") == [late_warning, acked_late, late_critical]
    assert await ids(sla_breached="false", tracking_number="TN-B") == [
        acked_in_time, fresh_critical, info,
    ]  # fmt: skip
    assert await ids(tracking_number="TN-NONE") == []

    body = await ok(
        await api.get("/v1/exceptions", params={"state": "open", "limit": 1}, headers=AS_VERA)
    )
    item = body["items"][0]
    assert item["exception_id"] == late_warning
    assert item["tracking_number"] == "TN-A"
    assert item["sla_s"] == 4 * 3600.0
    assert item["sla_breached"] is True
    assert item["acknowledged_at"] is None
    assert item["age_s"] >= 300 * 60
    due = datetime.fromisoformat(item["sla_due_at"]) - datetime.fromisoformat(item["opened_at"])
    assert due == timedelta(hours=4)

    # Pages: every exception once, in order, whatever the page size.
    for order, expected in (("oldest", oldest_first), ("newest", oldest_first[::-1])):
        seen: list[int] = []
        params: dict[str, Any] = {"limit": 4, "order": order}
        while True:
            page = await ok(await api.get("/v1/exceptions", params=params, headers=AS_VERA))
            seen += [i["exception_id"] for i in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == expected
    first = await ok(await api.get("/v1/exceptions", params={"limit": 2}, headers=AS_VERA))
    for cursor in (first["next_cursor"], "bm9wZQ", "x" * 600):
        wrong = await api.get(
            "/v1/exceptions", params={"order": "newest", "cursor": cursor}, headers=AS_VERA
        )
        assert wrong.status_code in (400, 422), wrong.text
    mixed = await api.get(
        "/v1/exceptions", params={"order": "newest", "cursor": first["next_cursor"]},
        headers=AS_VERA,
    )  # fmt: skip
    assert mixed.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "params",
    [
        {"state": "closed"},
        {"severity": "urgent"},
        {"kind": "no spaces"},
        {"limit": 0},
        {"limit": 501},
        {"order": "random"},
        {"opened_since": "2026-01-01T00:00:00"},  # no time zone
        {"assignee": "a b"},
        {"sla_breached": "maybe"},
    ],
)
async def test_bad_queue_filters_are_refused(api: httpx.AsyncClient, params: Any) -> None:
    response = await api.get("/v1/exceptions", params=params, headers=AS_VERA)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(f"query.{next(iter(params))}")


async def test_a_nul_in_a_filter_is_refused(api: httpx.AsyncClient) -> None:
    params = {"tracking_number": "TN\x00"}
    response = await api.get("/v1/exceptions", params=params, headers=AS_VERA)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_text"


async def test_the_sla_comes_from_the_settings(migrated_url: str) -> None:
    settings = settings_with_users(migrated_url, sla_ack_critical_s=3600.0)
    async with running(settings) as api:
        await create_shipment(api, "TN-A", "A1")
        exc = open_exception(migrated_url, "TN-A", ago(40))
        body = await ok(await api.get("/v1/exceptions", headers=AS_VERA))
        [item] = body["items"]
        assert (item["exception_id"], item["sla_s"], item["sla_breached"]) == (exc, 3600.0, False)
