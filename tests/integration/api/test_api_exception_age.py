"""An exception's age counts from the start of what it is about (its first alert's started_at:
the excursion's start), not from when the rule's delay ran out and the exception opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.api.conftest import create_shipment, running
from tests.integration.api.exception_rows import (
    AS_VERA,
    insert_alert,
    open_exception,
    settings_with_users,
)

pytestmark = pytest.mark.integration


async def test_the_age_counts_from_the_excursion_start(migrated_url: str) -> None:
    now = datetime.now(UTC)
    async with running(settings_with_users(migrated_url)) as client:
        await create_shipment(client, "TN-AGE", "AGE-1")
        await create_shipment(client, "TN-NOALERT", "NA-1")
        opened = now - timedelta(minutes=10)
        exception_id = open_exception(migrated_url, "TN-AGE", opened, kind="temperature")
        started = now - timedelta(minutes=40)
        parcel = ("parcel", "AGE-1")
        insert_alert(migrated_url, "TN-AGE", parcel, started, exception_id=exception_id)
        later = now - timedelta(minutes=20)
        insert_alert(
            migrated_url, "TN-AGE", parcel, later, exception_id=exception_id, rule="other/low"
        )
        bare = open_exception(migrated_url, "TN-NOALERT", opened, kind="shock")

        body: dict[str, Any] = (await client.get("/v1/exceptions", headers=AS_VERA)).json()
        items = {i["exception_id"]: i for i in body["items"]}
        with_alert, without = items[exception_id], items[bare]
        assert datetime.fromisoformat(with_alert["started_at"]) == started
        assert 40 * 60 <= with_alert["age_s"] < 41 * 60
        assert without["started_at"] is None
        assert 10 * 60 <= without["age_s"] < 11 * 60
        detail = (await client.get(f"/v1/exceptions/{exception_id}", headers=AS_VERA)).json()
        assert datetime.fromisoformat(detail["started_at"]) == started
