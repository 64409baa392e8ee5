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
