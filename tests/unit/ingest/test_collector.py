"""Ingest's processes collect garbage less often than Python's defaults (ingest/collector.py)."""

import argparse
import subprocess
import sys

from pytest import MonkeyPatch

from ingest import cli, collector


def test_tune_freezes_the_imports_and_raises_the_thresholds() -> None:
    # In a process of its own: the test process keeps Python's defaults.
    code = (
        "import gc; from ingest import collector; collector.tune();"
        " print(gc.get_threshold(), gc.get_freeze_count() > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"{collector.THRESHOLDS} True"
    assert collector.THRESHOLDS[0] > 700 * 10


def test_coldtrail_ingest_tunes_its_process_before_running(monkeypatch: MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(cli, "_settings", lambda args: "settings")
    monkeypatch.setattr(collector, "tune", lambda: calls.append("tune"))
    monkeypatch.setattr(cli, "run_until_signalled", lambda main: calls.append("run"))
    assert cli._run_ingest(argparse.Namespace()) == 0
    assert calls == ["tune", "run"]
