"""Each parcel's condition (alerts/condition.py), as the rule runner stores it: one statement
per pass, in the pass's transaction; and what a subject's rules store (their names)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.condition import BoundaryUse, ParcelRules, Verdict
from alerts.events import Rule, RuleSet
from ingest import derive_queries as q
from ingest.subjects import SubjectInfo


async def store_verdicts(
    conn: psycopg.AsyncConnection[Any], verdicts: list[tuple[SubjectInfo, ParcelRules, Verdict]]
) -> None:
    """Each parcel's condition, in the pass's transaction (one statement for all)."""
    if not verdicts:
        return
    columns: list[list[Any]] = [[] for _ in range(14)]
    for info, rules, v in verdicts:
        profile = rules.profile
        values = (
            info.subject_id,
            info.shipment_id,
            v.state,
            None if profile is None else profile.name,
            None if profile is None else profile.revision,
            v.scope,
            v.judged_through,
            v.readings,
            v.min_c,
            v.max_c,
            v.last_c,
            v.last_at,
            Jsonb([allowance_json(use) for use in v.allowance]),
            v.alerts,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    await conn.execute(q.UPSERT_CONDITIONS, columns)


def allowance_json(use: BoundaryUse) -> dict[str, Any]:
    return {
        "boundary": use.boundary,
        "kind": use.kind,
        "limit_c": use.limit_c,
        "severity": use.severity,
        "beyond": use.beyond,
        "since": None if use.since is None else use.since.isoformat(),
        "delay_min": use.delay_min,
        "delay_used_min": use.delay_used_min,
        "budget_min": use.budget_min,
        "budget_used_min": round(use.budget_used_min, 1),
        "alerted": use.alerted,
    }


def condition_of(rules: Rule[Any], state: Any) -> str | None:
    """A parcel's condition as of the rules' ``state``; None for a device."""
    return rules.verdict(state).state if isinstance(rules, ParcelRules) else None


def rule_names(rules: Rule[Any]) -> list[str]:
    """The names of the rules whose stored alerts a rebuild with ``rules`` supersedes."""
    if isinstance(rules, ParcelRules):
        return rules.rule_names
    if isinstance(rules, RuleSet):
        return [rule.name for rule in rules.rules]
    return [rules.name]
