"""Scenario files: the library loads, and every mistake names the file and the key."""

from pathlib import Path

import pytest

from coldtrail.errors import ConfigError
from simulators.scenario import load

SCENARIOS = Path(__file__).parents[3] / "scenarios"

GOOD = """
[scenario]
name = "t"
start = "10:00"
duration = "2h"

[fleet]
vans = 3
parcels = 9

[[events]]
at = "10:40"
kind = "compressor_failure"
vehicle = "van-2"

[[expect]]
what = "alert"
vehicle = "van-2"
kind = "above-8/excursion"
count = 3
from = "10:40"
until = "11:30"
"""


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_the_library_loads(path: Path) -> None:
    scenario = load(path)
    assert scenario.expectations
    assert scenario.duration_s > 0


def test_times_are_offsets_on_the_simulated_clock(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    s = load(path, speed=120)
    assert s.speed == 120
    assert s.events[0].at_s == 40 * 60
    assert (s.expectations[0].from_s, s.expectations[0].until_s) == (2400, 5400)
    assert s.clock_label(40 * 60) == "10:40:00"
    assert s.clock_label(15 * 3600) == "01:00:00 (+1 d)"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('vehicle = "van-2"\n\n[[expect]]', 'vehicle = "van-9"\n\n[[expect]]',
         r"events\[0\]\.vehicle: no 'van-9' in a fleet of 3 vans"),
        ('at = "10:40"', 'at = "25:00"', r"events\[0\]\.at: '25:00' is not a time of day"),
        ('duration = "2h"', 'duration = "2 hours"', r"scenario\.duration: '2 hours' is not a"),
        ('kind = "compressor_failure"', 'kind = "meteor"', r"events\[0\]\.kind: unknown event"),
        ("count = 3", "count = 3\nat_least = 2", r"expect\[0\]: give exactly one of count"),
        ("count = 3", 'count = "3"', r"expect\[0\]\.count: expected an integer, got str"),
        ("vans = 3", "vans = 3\nlorries = 2", r"fleet: unknown key\(s\) lorries"),
        ('name = "t"', "", r"scenario\.name: is required"),
        ('at = "10:40"', 'at = "09:00"', r"events\[0\]\.at: 09:00 is after the scenario's end"),
        ("vans = 3", "vans = 3\n[fleet", r"not valid TOML: .*line"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as caught:
        load(path)
    assert str(path) in str(caught.value)
