import json
from pathlib import Path

import pytest

from alerts.builtin_profiles import BUILTIN_PROFILES, builtin_profile
from alerts.profile_model import Profile, ProfileError, load_profile, parse_profile

TOML = """
name = "vaccine-x"
revision = 3
source = "shipper stability data, doc QA-17"
ignore_start_min = 15

[[boundaries]]
name = "above-8"
kind = "upper"
limit_c = 8.0
severity = "critical"
delay_min = 30
budget_min = 60
scopes = ["transit", "destination"]

[[boundaries]]
name = "below-2"
kind = "lower"
limit_c = 2.0
"""


def test_builtins_are_valid_and_named_by_their_key() -> None:
    assert set(BUILTIN_PROFILES) == {
        "pharma-2-8",
        "frozen",
        "chilled-0-4",
        "crt-15-25",
        "who-type-1",
    }
    for name, profile in BUILTIN_PROFILES.items():
        assert profile.name == name and profile.source
        assert Profile.model_validate_json(profile.model_dump_json()) == profile
    assert builtin_profile(None) is None


def test_who_type_1_thresholds() -> None:
    who = {b.name: b for b in BUILTIN_PROFILES["who-type-1"].boundaries}
    assert (who["high-45"].limit_c, who["high-45"].delay_min) == (45.0, 60)
    assert (who["high-30-cumulative"].delay_min, who["high-30-cumulative"].budget_min) == (
        None,
        600,
    )
    assert who["low--0.5"].beyond(-0.5) and not who["low--0.5"].beyond(-0.4)
    assert who["high-45"].beyond(45.0)


def test_toml_and_json_give_the_same_profile(tmp_path: Path) -> None:
    from_toml = parse_profile(TOML, "toml")
    assert from_toml.revision == 3
    assert from_toml.boundaries[0].scopes == {"transit", "destination"}
    assert from_toml.boundaries[1].delay_min == 0 and from_toml.boundaries[1].hysteresis_c == 0.2
    path = tmp_path / "vaccine-x.json"
    path.write_text(json.dumps(from_toml.model_dump(mode="json")))
    assert load_profile(path) == from_toml
    (tmp_path / "p.toml").write_text(TOML)
    assert load_profile(tmp_path / "p.toml") == from_toml


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (TOML.replace('kind = "upper"', 'kind = "sideways"'), "kind"),
        (TOML.replace("budget_min = 60", "budget_min = 60\ncolour = 1"), "colour"),
        (TOML.replace('name = "below-2"', 'name = "above-8"'), "duplicate boundary"),
        (TOML + "delay_min = -1\n", "delay_min"),
        ('name = "x"\nboundaries = []', "boundaries"),
        ("name = ", "invalid toml"),
    ],
)
def test_invalid_profiles_say_why(text: str, reason: str) -> None:
    with pytest.raises(ProfileError, match=reason):
        parse_profile(text, "toml")


def test_a_cumulative_only_boundary_needs_a_budget() -> None:
    boundary = {"name": "b", "kind": "upper", "limit_c": 1, "delay_min": None}
    doc = {"name": "x", "boundaries": [boundary]}
    with pytest.raises(ProfileError, match="neither delay_min nor budget_min"):
        parse_profile(json.dumps(doc), "json")


def test_unknown_file_suffix(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"\.toml or \.json"):
        load_profile(tmp_path / "p.yaml")


def test_max_gap_reaches_every_rule_of_the_profile() -> None:
    from datetime import timedelta

    from alerts.mkt import MktRule
    from alerts.rules import profile_rules
    from alerts.threshold import Threshold

    crt = BUILTIN_PROFILES["crt-15-25"]
    assert crt.max_gap_min == 15.0
    for rule in profile_rules(crt.model_copy(update={"max_gap_min": 5.0})):
        assert isinstance(rule, Threshold | MktRule)
        assert rule.max_gap == timedelta(minutes=5)
    for rule in profile_rules(crt.model_copy(update={"max_gap_min": None})):
        assert isinstance(rule, Threshold | MktRule) and rule.max_gap is None
    with pytest.raises(ProfileError, match="max_gap_min"):
        parse_profile(TOML.replace("ignore_start_min = 15", "max_gap_min = 0"), "toml")
