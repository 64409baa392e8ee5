"""Browser tests: Playwright driving Debian's chromium against a real uvicorn API and a real
PostgreSQL. Without /usr/bin/chromium (or ``COLDTRAIL_TEST_CHROMIUM``) they are skipped, and the
end of the run says so loudly (tests/conftest.py). Browsers are never downloaded.

Screenshots go to build/artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM_ENV = "COLDTRAIL_TEST_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "artifacts" / "screenshots"


def chromium_executable() -> str | None:
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    return path if Path(path).is_file() and os.access(path, os.X_OK) else shutil.which("chromium")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    if executable is None:
        pytest.skip(f"no chromium at {DEFAULT_CHROMIUM} (or {CHROMIUM_ENV}): browser tests not run")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable,
            # Root in a container has no user namespaces for chromium's sandbox.
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
