"""The chaos command's faults: one list, named in the CLI, and the broker it kills configured
as the one we ship."""

import argparse
import re
from pathlib import Path

import pytest

from coldtrail.errors import ConfigError
from coldtrail.localservices.mosquitto import SHIPPED_AUTOSAVE_INTERVAL_S
from simulators import cli
from simulators.chaos import FAULTS, parse_faults

SHIPPED_CONF = Path(__file__).parents[3] / "deploy" / "mosquitto" / "mosquitto.conf"


def test_faults_default_to_all_and_unknown_ones_are_named() -> None:
    assert parse_faults(None) == FAULTS
    assert {"broker_kill", "broker_kill_ingest_down"} <= set(FAULTS)
    assert parse_faults("broker_kill, gateway_kill") == ("broker_kill", "gateway_kill")
    with pytest.raises(ConfigError, match="unknown broker_crash; known: gateway_network"):
        parse_faults("broker_crash")


def test_the_cli_names_every_fault(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="coldtrail")
    cli.register(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["sim", "chaos", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    listed = text.split("comma-separated subset of ", 1)[1].split(" (default", 1)[0]
    assert re.split(r",\s*", listed) == list(FAULTS)


def test_the_broker_chaos_kills_saves_as_the_shipped_configuration_does() -> None:
    settings = dict(
        line.split(None, 1)
        for line in SHIPPED_CONF.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert settings["persistence"] == "true"
    assert int(settings["autosave_interval"]) == SHIPPED_AUTOSAVE_INTERVAL_S
    assert "autosave_on_changes" not in settings
