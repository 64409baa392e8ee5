import pytest

from coldtrail.errors import ConfigError
from gateway.sources import build_source, parse_spec


def test_parse_spec() -> None:
    assert parse_spec("sim:vehicle=van-1, seed=7") == ("sim", {"vehicle": "van-1", "seed": "7"})
    assert parse_spec("sim") == ("sim", {})


@pytest.mark.parametrize("bad", ["", ":x=1", "sim:vehicle"])
def test_bad_specs_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_spec(bad)


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known kinds: .*sim"):
        build_source("teleporter:x=1")


def test_simulated_source_is_found_through_its_entry_point() -> None:
    source = build_source("sim:vehicle=van-2,seed=3")
    assert source.name == "sim:van-2"


def test_bad_options_of_a_kind_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="vehicle"):
        build_source("sim:seed=3")
    with pytest.raises(ConfigError, match="van-9"):
        build_source("sim:vehicle=van-9")
