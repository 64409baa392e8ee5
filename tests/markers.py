"""The check that keeps CI honest: a test that uses the real services carries a marker.

CI's second pass (``.ci/run``) runs ``pytest -m "integration or e2e"`` against this machine's
PostgreSQL and Mosquitto; a test that talks to them without one of those markers would be
deselected there and never run against the real services. At collection, before ``-m`` deselects
anything, every collected test whose fixtures (directly or through other fixtures) include one of
:data:`SERVICE_FIXTURES` must carry ``integration`` or ``e2e``; otherwise the run stops with a
usage error that names each such test.

Registered by ``tests/conftest.py``; ``tests/unit/test_markers.py`` proves it fails on an
unmarked test.
"""

from __future__ import annotations

import pytest

SERVICE_FIXTURES = frozenset({"pg_server_url", "database_url", "mqtt_url", "timescale_url"})
"""The fixtures of tests/conftest.py that start or name a real PostgreSQL or MQTT broker."""
SERVICE_MARKERS = ("integration", "e2e")


def unmarked_service_tests(items: list[pytest.Item]) -> list[str]:
    """The node ids of the tests that use a service fixture without a service marker."""
    out = []
    for item in items:
        used = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used and not any(item.get_closest_marker(m) for m in SERVICE_MARKERS):
            out.append(f"{item.nodeid} (uses {', '.join(sorted(used))})")
    return out


@pytest.hookimpl(tryfirst=True)  # before -m deselects them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = unmarked_service_tests(items)
    if unmarked:
        listed = "\n  ".join(unmarked)
        raise pytest.UsageError(
            f"{len(unmarked)} test(s) use the real PostgreSQL/MQTT fixtures without the"
            " 'integration' or 'e2e' marker (CI's real-services pass would never run them):\n  "
            + listed
        )
