"""Routes serving the pages' HTML, their security headers, and the static files.

The HTML never contains the shopper's token: the page's script reads it from ``location``.
``/t/{token}`` checks the token first so that an unknown, expired or revoked link gets the same
friendly 404 page (and nothing tells those cases apart).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import auth, queries, queries_kpis
from api.deps import Connection
from api.web import queries as web_queries
from coldtrail.settings import ApiSettings

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")
MAX_TOKEN_LENGTH = 128
_HOST = re.compile(r"^[a-z0-9.-]{1,253}$")
_LANGUAGE_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$"
)


def choose_language(accept_language: str | None) -> Language:
    """The first of our languages in ``Accept-Language`` by preference (q), else English."""
    best: tuple[float, int, Language] | None = None
    for index, part in enumerate((accept_language or "").split(",")[:32]):
        match = _LANGUAGE_RANGE.match(part)
        if match is None:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
        primary = match.group(1).lower()
        if quality <= 0 or primary not in LANGUAGES:
            continue
        key = (-quality, index, primary)
        if best is None or key < best:
            best = key
    return best[2] if best is not None else "en"


def tile_source(tile_url: str | None) -> str | None:
    """The CSP source allowing ``tile_url``'s host: ``https://{s}.a.org/...`` -> ``https://*.a.org``."""
    if tile_url is None:
        return None
    parts = urlsplit(tile_url.replace("{s}", "tiles-subdomain"))
    host = (parts.hostname or "").replace("tiles-subdomain", "*")
    if not host:
        raise ValueError("map_tile_url has no host")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def image_source(url: str | None) -> str | None:
    """The CSP source of one https image (a merchant's logo), or None if it is not one."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or not _HOST.match(parts.hostname):
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"https://{parts.hostname}{port}"


def content_security_policy(settings: ApiSettings, *more_images: str | None) -> str:
    sources = ["'self'", "data:", tile_source(settings.map_tile_url), *more_images]
    images = " ".join(dict.fromkeys(s for s in sources if s))
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


NOT_FOUND_TEXT: dict[Language, tuple[str, str]] = {
    "en": (
        "We could not find this tracking link",
        "The link may be mistyped, or it has expired. Please use the latest link from your"
        " shipping notification, or contact the shop you ordered from.",
    ),
    "fr": (
        "Nous n'avons pas trouvé ce lien de suivi",
        "Le lien est peut-être incomplet, ou il a expiré. Utilisez le dernier lien reçu dans"
        " votre avis d'expédition, ou contactez la boutique où vous avez commandé.",
    ),
}
"""The 404 page says it in both languages, the reader's first (one page for every case)."""


def not_found_sections(language: Language) -> str:
    order = [language, *(other for other in LANGUAGES if other != language)]
    sections = []
    for index, lang in enumerate(order):
        title, text = (html.escape(part) for part in NOT_FOUND_TEXT[lang])
        tag = "h1" if index == 0 else "h2"
        sections.append(f'    <section lang="{lang}"><{tag}>{title}</{tag}><p>{text}</p></section>')
    return "\n".join(sections)


class Pages:
    """The pages' HTML, read once, with the settings' values filled in."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.headers = {
            "Content-Security-Policy": content_security_policy(settings),
            "X-Content-Type-Options": "nosniff",
            # The shopper's URL holds the token: never send it to another site.
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "Vary": "Accept-Language",
        }
        fills = {
            "{{tiles}}": html.escape(settings.map_tile_url or "", quote=True),
            "{{attribution}}": html.escape(settings.map_tile_attribution, quote=True),
        }
        self._templates = {
            name: _fill((STATIC_DIR / f"{name}.html").read_text("utf-8"), fills)
            for name in ("track", "ops", "notfound")
        }

    def render(
        self, name: str, language: Language, status_code: int = 200, logo_url: str | None = None
    ) -> HTMLResponse:
        """The page; ``logo_url``: a merchant's logo the CSP must also allow."""
        body = self._templates[name].replace("{{lang}}", language)
        body = body.replace("{{notfound}}", not_found_sections(language))
        headers = dict(self.headers)
        logo = image_source(logo_url)
        if logo is not None:
            headers["Content-Security-Policy"] = content_security_policy(self.settings, logo)
        return HTMLResponse(body, status_code=status_code, headers=headers)


def _fill(text: str, fills: dict[str, str]) -> str:
    for key, value in fills.items():
        text = text.replace(key, value)
    return text


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.web_pages
    return pages


AcceptLanguage = Annotated[str | None, Header(alias="Accept-Language")]

router = APIRouter(include_in_schema=False)


@router.get("/t/{token}", response_class=HTMLResponse)
async def tracking_page(
    token: str, request: Request, conn: Connection, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    language = choose_language(accept_language)
    pages = _pages(request)
    shipment = None
    if 0 < len(token) <= MAX_TOKEN_LENGTH:
        shipment = await queries.shipment_for_token(conn, auth.sha256(token))
    if shipment is None:
        return pages.render("notfound", language, status_code=404)
    await queries_kpis.count_view(conn, shipment.shipment_id, page=True)
    logo_url = await web_queries.brand_logo_url(conn, shipment.shipment_id)
    return pages.render("track", language, logo_url=logo_url)


@router.get("/t", response_class=HTMLResponse)
@router.get("/t/", response_class=HTMLResponse)
async def tracking_page_without_token(
    request: Request, accept_language: AcceptLanguage = None
) -> HTMLResponse:
    return _pages(request).render("notfound", choose_language(accept_language), 404)


@router.get("/ops", response_class=HTMLResponse)
async def ops_console(request: Request, accept_language: AcceptLanguage = None) -> HTMLResponse:
    return _pages(request).render("ops", choose_language(accept_language))


@router.get("/ops/")
async def ops_console_slash() -> RedirectResponse:
    return RedirectResponse("/ops", status_code=308)


def install(app: FastAPI, settings: ApiSettings) -> None:
    """Adds the pages' routes and the static files to ``app``."""
    from api.web import unsubscribe

    app.state.web_pages = Pages(settings)
    app.include_router(router)
    app.include_router(unsubscribe.router)  # /u/{ref}: a message's unsubscribe link
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
