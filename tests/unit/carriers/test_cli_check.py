"""``coldtrail carriers check CARRIER FILE``: a saved response mapped to the checkpoints it
would store, one JSON object per line; a bad file is a clear error and a non-zero status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parents[2] / "data" / "carriers"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coldtrail.cli", "carriers", "check", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_prints_one_checkpoint_per_line() -> None:
    done = check("chronopost", str(DATA / "chronopost" / "XY123456789FR.json"))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(c["status"], c["sub_status"], c["known_code"]) for c in lines] == [
        ("InTransit", "PC1", True),
        ("Pending", "ZZ8", False),
        ("Delivered", "DI1", True),
        ("Pending", "ZZ9", False),
    ]
    assert lines[2] == {
        "source": "chronopost",
        "external_id": "XY123456789FR/DI1/2026-12-02T12:31:00+01:00",
        "time": "2026-12-02T12:31:00+01:00",
        "status": "Delivered",
        "sub_status": "DI1",
        "message": "Colis livré.",
        "known_code": True,
    }


def test_a_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "6A1.json"
    bad.write_text("<html>Service indisponible</html>")
    done = check("colissimo", str(bad))
    assert done.returncode == 1
    assert "colissimo: response is not JSON" in done.stderr
    assert check("colissimo", str(tmp_path / "missing.json")).returncode == 2


def test_dpd_and_gls_files() -> None:
    done = check("dpd", str(DATA / "dpd" / "01905002719999.xml"))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(c["status"], c["sub_status"], c["known_code"]) for c in lines] == [
        ("InTransit", "PickedUp", True),
        ("Delivered", "Delivered", True),
        ("Pending", "ZZCorrection", False),
    ]
    assert lines[1]["location"] == "Lyon (FR)"
    done = check("gls", str(DATA / "gls" / "42249018928.json"))
    assert (done.returncode, done.stderr.strip()) == (
        1,
        f"cannot map {DATA / 'gls' / '42249018928.json'}: gls: E_404_01: Resource Not Found",
    )
