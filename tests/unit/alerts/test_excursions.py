from datetime import UTC, datetime, timedelta

from alerts.excursions import find_excursions
from alerts.profiles import PROFILES, band

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def series(*temps: float) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=i), t) for i, t in enumerate(temps)]


def test_no_excursion_inside_the_band() -> None:
    assert find_excursions(series(2.0, 5.0, 8.0), PROFILES["pharma-2-8"]) == []


def test_an_excursion_has_start_end_and_peak() -> None:
    (exc,) = find_excursions(series(5, 8.5, 11.2, 9, 7.9, 6), PROFILES["pharma-2-8"])
    assert (exc.boundary, exc.limit_c, exc.peak_c, exc.readings) == ("high", 8.0, 11.2, 3)
    assert exc.start == T0 + timedelta(minutes=1)
    assert exc.end == T0 + timedelta(minutes=4)
    assert not exc.ongoing


def test_an_ongoing_excursion_and_a_switch_from_low_to_high() -> None:
    low, high = find_excursions(series(1.0, 0.5, 9.0, 10.0), PROFILES["pharma-2-8"])
    assert (low.boundary, low.peak_c, low.end) == ("low", 0.5, T0 + timedelta(minutes=2))
    assert (high.boundary, high.peak_c, high.ongoing) == ("high", 10.0, True)


def test_frozen_has_only_an_upper_bound_and_unknown_profiles_have_none() -> None:
    assert find_excursions(series(-30, -25), PROFILES["frozen"]) == []
    assert band("no-such-profile") is None
