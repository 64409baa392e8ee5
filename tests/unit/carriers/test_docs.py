"""docs/carriers.md says what the registry does: every carrier, and every code of every table
with its status (a code added to a table without the docs fails here)."""

from __future__ import annotations

from pathlib import Path

from carriers.registry import CARRIERS

DOC = (Path(__file__).parents[3] / "docs" / "carriers.md").read_text()


def test_every_carrier_is_in_the_docs() -> None:
    for name in CARRIERS:
        assert f"| `{name}` |" in DOC, name


def test_every_code_is_in_the_docs_with_its_status() -> None:
    for carrier in CARRIERS.values():
        for table in (carrier.codes, carrier.groups):
            for code, status in table.items():
                assert f"| `{code}` | {status} |" in DOC, (carrier.name, code)
