"""The built-in profiles, as data. Each one's numbers and their source: docs/profiles.md."""

from __future__ import annotations

from alerts.profile_model import Boundary, Profile

PHARMA_2_8 = Profile(
    name="pharma-2-8",
    title="Refrigerated medicines, 2-8 °C",
    source="label storage 2-8 °C (USP ⟨659⟩ 'refrigerator'); delays and budgets are "
    "coldtrail defaults to be replaced by the product's stability data",
    boundaries=(
        Boundary(
            name="above-8", kind="upper", limit_c=8.0, severity="critical",
            delay_min=30, budget_min=60,
        ),
        Boundary(
            name="below-2", kind="lower", limit_c=2.0, severity="critical",
            delay_min=15, budget_min=30,
        ),
    ),
)  # fmt: skip

FROZEN = Profile(
    name="frozen",
    title="Quick-frozen goods, -18 °C or colder",
    source="Council Directive 89/108/EEC: -18 °C or lower, brief upward fluctuations of at "
    "most 3 °C allowed during transport",
    boundaries=(
        Boundary(name="above--18", kind="upper", limit_c=-18.0, severity="warning", delay_min=30),
        Boundary(name="above--15", kind="upper", limit_c=-15.0, severity="critical", delay_min=0),
    ),
)

CHILLED_0_4 = Profile(
    name="chilled-0-4",
    title="Chilled food, 0-4 °C",
    source="common chilled-food practice; not a regulation. Delays and budgets are coldtrail "
    "defaults",
    boundaries=(
        Boundary(
            name="above-4", kind="upper", limit_c=4.0, severity="critical",
            delay_min=30, budget_min=120,
        ),
        Boundary(name="below-0", kind="lower", limit_c=0.0, severity="warning", delay_min=30),
    ),
)  # fmt: skip

CRT_15_25 = Profile(
    name="crt-15-25",
    title="Controlled room temperature, 20-25 °C, excursions 15-30 °C allowed",
    source="USP ⟨659⟩ 'controlled room temperature': excursions between 15 and 30 °C are "
    "allowed provided the mean kinetic temperature does not exceed 25 °C",
    boundaries=(
        Boundary(name="above-25", kind="upper", limit_c=25.0, severity="info", delay_min=0),
        Boundary(name="above-30", kind="upper", limit_c=30.0, severity="critical", delay_min=0),
        Boundary(name="below-15", kind="lower", limit_c=15.0, severity="critical", delay_min=0),
    ),
    mkt_max_c=25.0,
)

WHO_TYPE_1 = Profile(
    name="who-type-1",
    title="WHO PQS type 1 electronic shipping indicator thresholds",
    source="WHO PQS (category E006) type 1 indicator alarm thresholds: ≥ 45 °C for 1 h single "
    "event, ≥ 30 °C for 10 h cumulative, ≤ -0.5 °C for 1 h single event",
    boundaries=(
        Boundary(
            name="high-45", kind="upper", limit_c=45.0, inclusive=True, severity="critical",
            delay_min=60, hysteresis_c=0.0,
        ),
        Boundary(
            name="high-30-cumulative", kind="upper", limit_c=30.0, inclusive=True,
            severity="critical", delay_min=None, budget_min=600, hysteresis_c=0.0,
        ),
        Boundary(
            name="low--0.5", kind="lower", limit_c=-0.5, inclusive=True, severity="critical",
            delay_min=60, hysteresis_c=0.0,
        ),
    ),
)  # fmt: skip

BUILTIN_PROFILES: dict[str, Profile] = {
    p.name: p for p in (PHARMA_2_8, FROZEN, CHILLED_0_4, CRT_15_25, WHO_TYPE_1)
}


def builtin_profile(name: str | None) -> Profile | None:
    """A built-in profile by name; None for an unknown or missing name."""
    return BUILTIN_PROFILES.get(name or "")
