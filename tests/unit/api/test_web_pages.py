"""The pages' server side without a database: language choice, the CSP, the 404 page."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.web.pages import (
    STATIC_DIR,
    Pages,
    choose_language,
    content_security_policy,
    image_source,
    not_found_sections,
    tile_source,
)
from coldtrail.settings import ApiSettings


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("fr", "fr"),
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE,de;q=0.9,fr;q=0.5,en;q=0.4", "fr"),
        ("en-GB,en;q=0.9,fr;q=0.8", "en"),
        ("fr;q=0.2,en;q=0.9", "en"),
        ("fr;q=0, en", "en"),
        ("de, es", "en"),
        ("*;q=0.5", "en"),
        ("fr;q=abc", "en"),
    ],
)
def test_the_language_follows_accept_language(header: str | None, expected: str) -> None:
    assert choose_language(header) == expected


def test_the_csp_allows_self_only_plus_the_configured_tiles() -> None:
    offline = content_security_policy(ApiSettings())
    assert "default-src 'none'" in offline and "script-src 'self'" in offline
    assert "img-src 'self' data:;" in offline
    assert "unsafe" not in offline
    tiles = ApiSettings(map_tile_url="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    assert tile_source(tiles.map_tile_url) == "https://*.tile.example.org"
    assert "img-src 'self' data: https://*.tile.example.org;" in content_security_policy(tiles)


def test_a_tile_url_must_be_https_with_a_zoom() -> None:
    for bad in ("http://tiles.example.org/{z}/{x}/{y}.png", "https://tiles.example.org/a.png"):
        with pytest.raises(ValidationError, match="map_tile_url"):
            ApiSettings(map_tile_url=bad)


def test_only_an_https_logo_host_is_added() -> None:
    assert image_source("https://cdn.shop.example/logo.png") == "https://cdn.shop.example"
    assert image_source("https://cdn.shop.example:8443/l.png") == "https://cdn.shop.example:8443"
    for refused in (None, "http://cdn.shop.example/logo.png", "javascript:alert(1)", "https://"):
        assert image_source(refused) is None


def test_the_404_page_speaks_the_readers_language_first() -> None:
    french = not_found_sections("fr")
    assert french.index('lang="fr"><h1>') < french.index('lang="en"><h2>')
    assert "Nous n&#x27;avons pas trouvé" in french
    page = Pages(ApiSettings()).render("notfound", "en", 404)
    assert page.status_code == 404
    body = bytes(page.body).decode()
    assert '<html lang="en">' in body and "{{" not in body
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_pages_load_only_local_files() -> None:
    for page in ("track.html", "ops.html", "notfound.html"):
        text = (STATIC_DIR / page).read_text("utf-8")
        assert "http://" not in text and "https://" not in text, page
        assert "<script>" not in text and "style=" not in text, page
