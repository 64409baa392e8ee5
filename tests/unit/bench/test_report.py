"""bench/results.md is written from the results JSON: headline figures and machine facts."""

import json
from pathlib import Path

from bench._report import headline_figures, machine_info, render

RESULTS = Path(__file__).parents[3] / "bench" / "results.json"


def test_the_table_of_the_stored_results() -> None:
    results = json.loads(RESULTS.read_text())
    results["machine"] = machine_info()
    text = render(results)
    rows = list(headline_figures(results))
    assert {b for b, _, _ in rows} == set(results["benchmarks"])  # every bench has a figure
    assert "| contract | `readings_per_s` | " in text
    assert "| cores |" in text and "| postgresql |" in text and "| date |" in text
    figures = {f for _, f, _ in rows}
    assert "batch_readings" not in figures  # a parameter, not a result


def test_values_are_formatted_for_people() -> None:
    results = {
        "benchmarks": {"x": {"a_per_s": 123456, "p99_ms": 4.5, "stored_exactly_once": False}}
    }
    assert list(headline_figures(results)) == [
        ("x", "a_per_s", "123,456"),
        ("x", "p99_ms", "4.5"),
        ("x", "stored_exactly_once", "**no**"),
    ]


def test_the_fleet_cases_make_one_table() -> None:
    case = {
        "readings_per_s": 20000,
        "published_readings_per_s": 21000,
        "lost": 0,
        "duplicated": 0,
        "unexpected": 0,
        "drain_s": 3.5,
        "drain_readings_per_s": 30000,
        "cpu_pct_while_publishing": {
            "load_generator": 80.0,
            "broker": 4.0,
            "workers": 60.0,
            "postgresql": 30.0,
        },
        "other_processes_cpu_pct": 20.0,
        "bottleneck": "cpu",
    }
    fleet = {
        "gateways": 10000,
        "rate": 40000.0,
        "duration_s": 60.0,
        "cases": {
            "workers_1": {**case, "workers": 1, "ratio_to_1_worker": 1.0},
            "workers_2": {**case, "workers": 2, "ratio_to_1_worker": 1.5, "lost": 3},
        },
    }
    text = render({"benchmarks": {"fleet": fleet}})
    assert "## Fleet" in text and "10,000 gateways" in text
    rows = [
        line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")
    ]
    assert rows == [
        "| 1 | 20,000 | 1 | 21,000 | 0 | 0 | 0 | 3.5 | 30,000 | 80 / 4 / 60 / 30 / 20 | cpu |",
        "| 2 | 20,000 | 1.5 | 21,000 | 3 | 0 | 0 | 3.5 | 30,000 | 80 / 4 / 60 / 30 / 20 | cpu |",
    ]
