"""The suite refuses a test that uses the real services without the integration/e2e marker
(tests/markers.py): run on small test files of its own, with fake fixtures of the same names."""

from __future__ import annotations

import pytest

# Fixtures with the names of tests/conftest.py's service fixtures, starting nothing.
CONFTEST = """
import pytest

pytest_plugins = ["tests.markers"]


@pytest.fixture
def pg_server_url():
    return "postgresql://fake"


@pytest.fixture
def database_url(pg_server_url):
    return pg_server_url + "/db"


@pytest.fixture
def mqtt_url():
    return "mqtt://fake"


@pytest.fixture
def broker_client(mqtt_url):
    return mqtt_url


@pytest.fixture
def plain():
    return 1
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    integration: x\n    e2e: x\n"
    )
    pytester.makepyfile(test_things=source)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


def test_an_unmarked_test_using_the_database_fails_the_run(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import pytest

def test_unmarked(database_url):
    assert database_url

@pytest.mark.integration
def test_marked(database_url):
    assert database_url

def test_no_services(plain):
    assert plain
""",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*1 test(s) use the real PostgreSQL/MQTT fixtures without the 'integration' or 'e2e'*",
            "*test_things.py::test_unmarked (uses database_url, pg_server_url)",
        ]
    )
    assert "test_marked" not in result.stderr.str()
    assert "test_no_services" not in result.stderr.str()


def test_a_broker_reached_through_another_fixture_counts_too(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
def test_through_a_fixture(broker_client):
    assert broker_client
""",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_through_a_fixture (uses mqtt_url)"])


def test_deselecting_with_m_does_not_hide_an_unmarked_test(pytester: pytest.Pytester) -> None:
    """CI's second pass selects ``-m "integration or e2e"``: the unmarked test still fails it."""
    result = run(
        pytester,
        """
def test_unmarked(mqtt_url):
    assert mqtt_url
""",
        "-m",
        "integration or e2e",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_unmarked (uses mqtt_url)"])


def test_marked_tests_run(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import pytest

pytestmark = pytest.mark.e2e

def test_module_marked(database_url, mqtt_url):
    assert database_url and mqtt_url

class TestGrouped:
    @pytest.mark.integration
    def test_class_member(self, broker_client):
        assert broker_client
""",
    )
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=2)
