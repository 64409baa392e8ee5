"""One truth of the goods' condition (issue 14's acceptance): over random series, for every
built-in profile and a user profile, after each reading the condition and the alerts the API
shows (ops timeline, shopper's /v1/track) equal the rule engine's own state and the alerts it
stored for that parcel. The reference is the pure rule engine (alerts/condition.py) fed the same
readings one at a time; the API side is ingest's rule runner over the stored rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alerts.builtin_profiles import BUILTIN_PROFILES
from alerts.button import ButtonRule
from alerts.condition import ParcelRules
from alerts.events import Sample
from alerts.profile_model import Profile
from alerts.rules import door_rules, profile_rules, shock_above
from tests.integration.api.conftest import (
    OPS,
    create_shipment,
    insert_readings,
    judge,
    post,
)

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
USER_PROFILE = {
    "name": "insulin-pen",
    "title": "Insulin pens in use, 2-30 °C",
    "ignore_start_min": 5,
    "boundaries": [
        {"name": "above-30", "kind": "upper", "limit_c": 30.0, "severity": "critical",
         "delay_min": 20, "budget_min": 45},
        {"name": "below-2", "kind": "lower", "limit_c": 2.0, "severity": "warning",
         "delay_min": 0, "hysteresis_c": 0.5},
        {"name": "above-25", "kind": "upper", "limit_c": 25.0, "severity": "info",
         "delay_min": 10},
    ],
    "mkt_max_c": 27.0,
}  # fmt: skip


def _values(profile: Profile) -> list[float]:
    """Temperatures around each boundary of the profile: inside, on, just beyond, far."""
    out = []
    for b in profile.boundaries:
        sign = 1 if b.kind == "upper" else -1
        out += [b.limit_c - 3 * sign, b.limit_c, b.limit_c + 0.3 * sign, b.limit_c + 4 * sign]
    return out


def _engine(profile: Profile) -> ParcelRules:
    """The rules the runner gives a parcel with no zones (ingest/derive.py _parcel_rules)."""
    extra = (shock_above(6.0), ButtonRule(), *door_rules(profile))
    return ParcelRules.build(profile, (*profile_rules(profile), *extra))


def _stored_temperature_alerts(body: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(a["kind"], a["start"], a["end"]) for a in body["alerts"]}


def _engine_alerts(emitted: list[Any]) -> set[tuple[str, str, str | None]]:
    final: dict[tuple[str, str, datetime], Any] = {}
    for alert in emitted:  # the stored row of an alert is its latest emission
        if alert.kind in ("excursion", "budget", "mkt"):
            final[(alert.rule, alert.kind, alert.start)] = alert
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    return {(a.kind, iso(a.start), None if a.end is None else iso(a.end)) for a in final.values()}


async def test_after_each_reading_the_api_shows_the_rule_engines_verdict_and_alerts(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    stored = await client.put(
        f"/v1/profiles/{USER_PROFILE['name']}", json=USER_PROFILE, headers=OPS
    )
    assert stored.status_code == 201, stored.text
    user = Profile.model_validate(stored.json()["profile"])
    profiles = [*BUILTIN_PROFILES.values(), user]
    await post(client, "/v1/vehicles", {"vehicle_id": "van-p", "name": "P", "gateway_id": "gw-p"})
    rng = random.Random(20261207)
    checked, seen = 0, set()
    for n, profile in enumerate(profiles):
        tn, parcel, tag = f"TN-P{n}", f"P{n}", f"tag-p{n}"
        created = await create_shipment(client, tn, parcel, profile=profile.name)
        custody = {"parcel_id": parcel, "vehicle_id": "van-p", "device_id": tag,
                   "from_time": T0.isoformat()}  # fmt: skip
        await post(client, "/v1/custody", custody)
        await judge(migrated_url)  # the custody queued the logger: nothing to judge yet
        engine, values = _engine(profile), _values(profile)
        state, emitted = engine.initial(), []
        minute = 0
        for seq in range(18):
            minute += rng.choice([1, 2, 5, 5, 10, 14, 20])
            value = rng.choice(values)
            insert_readings(migrated_url, [(T0 + timedelta(minutes=minute), tag, seq, value)])
            await judge(migrated_url)
            state, alerts = engine.step(
                state, Sample(T0 + timedelta(minutes=minute), temperature_c=value)
            )
            emitted += alerts
            verdict = engine.verdict(state)
            seen.add(verdict.state)
            ops = (await client.get(f"/v1/shipments/{tn}/timeline", headers=OPS)).json()
            track = (await client.get(f"/v1/track/{created['access_token']}")).json()
            for condition in (ops["summary"]["condition"], track["condition"]):
                (shown,) = condition["parcels"]
                assert (condition["state"], shown["state"]) == (verdict.state, verdict.state)
                assert condition["profile_revision"] == profile.revision
                assert (shown["readings"], shown["min_c"], shown["max_c"]) == (
                    verdict.readings,
                    verdict.min_c,
                    verdict.max_c,
                )
                assert shown["alerts"] == verdict.alerts
                assert [(u["boundary"], u["beyond"], u["alerted"]) for u in shown["allowance"]] == [
                    (u.boundary, u.beyond, u.alerted) for u in verdict.allowance
                ]
            # The alerts shown are the stored ones, and they are the engine's.
            assert _stored_temperature_alerts(ops) == _engine_alerts(emitted)
            listed = (await client.get(f"/v1/shipments/{tn}/alerts", headers=OPS)).json()
            stored_alerts = {
                (a["kind"], a["started_at"]) for a in listed["items"]
                if a["kind"] in ("excursion", "budget", "mkt") and a["state"] != "superseded"
            }  # fmt: skip
            assert stored_alerts == {(k, s) for k, s, _ in _engine_alerts(emitted)}
            # out of spec exactly when a warning or critical alert of the profile is stored
            serious = [a for a in ops["alerts"] if a["severity"] != "info"]
            assert (verdict.state == "out_of_spec") == bool(serious)
            checked += 1
    assert checked == 18 * len(profiles)
    assert seen == {"in_spec", "excursion_within_allowance", "out_of_spec"}, seen


async def test_a_shipment_records_the_profile_revision_it_is_judged_by(
    client: httpx.AsyncClient, migrated_url: str
) -> None:
    first = {"name": "vax", "boundaries": [{"name": "above-8", "kind": "upper", "limit_c": 8.0,
                                            "severity": "critical", "delay_min": 0}]}  # fmt: skip
    assert (await client.put("/v1/profiles/vax", json=first, headers=OPS)).status_code == 201
    again = await client.put("/v1/profiles/vax", json=first, headers=OPS)
    assert (again.status_code, again.json()["revision"]) == (200, 1)  # same rules: unchanged
    await create_shipment(client, "TN-OLD", "O1", profile="vax")
    looser = {**first, "boundaries": [{**first["boundaries"][0], "limit_c": 12.0}]}
    second = await client.put("/v1/profiles/vax", json=looser, headers=OPS)
    assert (second.status_code, second.json()["revision"]) == (201, 2)
    await create_shipment(client, "TN-NEW", "N1", profile="vax")
    await post(client, "/v1/vehicles", {"vehicle_id": "van-v", "name": "V", "gateway_id": "gw-v"})
    for parcel, tag in (("O1", "tag-o"), ("N1", "tag-n")):
        custody = {"parcel_id": parcel, "vehicle_id": "van-v", "device_id": tag,
                   "from_time": T0.isoformat()}  # fmt: skip
        await post(client, "/v1/custody", custody)
    insert_readings(
        migrated_url, [(T0 + timedelta(minutes=1), t, 1, 10.0) for t in ("tag-o", "tag-n")]
    )
    await judge(migrated_url)
    old = (await client.get("/v1/shipments/TN-OLD/timeline", headers=OPS)).json()["summary"]
    new = (await client.get("/v1/shipments/TN-NEW/timeline", headers=OPS)).json()["summary"]
    assert (old["condition"]["profile_revision"], old["condition"]["state"]) == (1, "out_of_spec")
    assert (new["condition"]["profile_revision"], new["condition"]["state"]) == (2, "in_spec")
    revisions = (await client.get("/v1/profiles/vax", headers=OPS)).json()["revisions"]
    assert [r["revision"] for r in revisions] == [1, 2]
    listed = {p["name"] for p in (await client.get("/v1/profiles", headers=OPS)).json()["items"]}
    assert {"pharma-2-8", "who-type-1", "vax"} <= listed
    unknown = await client.post(
        "/v1/shipments",
        json={"tracking_number": "TN-X", "parcels": [{"parcel_id": "X1"}], "profile": "nope"},
        headers=OPS,
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_profile")
    bad = await client.put("/v1/profiles/vax", json={"boundaries": []}, headers=OPS)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_profile")
    viewer_cannot = await client.put("/v1/profiles/vax", json=first)
    assert viewer_cannot.status_code == 401
