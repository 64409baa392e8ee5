"""``/u/{ref}``: the signed unsubscribe link of every shopper message (alerts/shopper_links.py).

``GET`` shows a page with one button (a link scanner that follows links unsubscribes nobody);
``POST`` unsubscribes: the page's button, or a mail client's one-click unsubscribe (RFC 8058,
``List-Unsubscribe-Post``). The link works without the tracking token and only for the
subscription it names; a link not signed by ``COLDTRAIL_API_LINK_SECRET`` gets the same 404 as
an unknown one.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from alerts.shopper_links import UNSUBSCRIBE_PATH, verify
from api import queries_shoppers as qs
from api.deps import Connection
from api.web.pages import Pages, choose_language

router = APIRouter(include_in_schema=False)

_TEXT = {
    "en": {
        "title": "Stop the messages",
        "ask": "Stop the messages about this parcel by {medium}?",
        "button": "Unsubscribe",
        "done": "Done: you will receive no more messages about this parcel by {medium}.",
        "again": "You can subscribe again on the tracking page.",
        "invalid": "This unsubscribe link is not valid.",
        "email": "e-mail",
        "sms": "SMS",
    },
    "fr": {
        "title": "Ne plus recevoir de messages",
        "ask": "Ne plus recevoir de messages sur ce colis par {medium} ?",
        "button": "Se désabonner",
        "done": "C'est fait : vous ne recevrez plus de messages sur ce colis par {medium}.",
        "again": "Vous pouvez vous réabonner depuis la page de suivi.",
        "invalid": "Ce lien de désabonnement n'est pas valide.",
        "email": "e-mail",
        "sms": "SMS",
    },
}


def _page(pages: Pages, language: str, body: str, status_code: int = 200) -> HTMLResponse:
    words = _TEXT[language]
    document = (
        "<!doctype html>\n"
        f'<html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{html.escape(words['title'])}</title>"
        '<link rel="icon" href="/static/logo.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/static/base.css">'
        '<link rel="stylesheet" href="/static/track.css"></head>'
        '<body class="notfound"><main id="main" class="card notfound-card">'
        '<img src="/static/logo.svg" alt="" width="48" height="48">'
        f"{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=pages.headers)


def _invalid(pages: Pages, request: Request) -> HTMLResponse:
    reader = choose_language(request.headers.get("accept-language"))
    invalid = html.escape(_TEXT[reader]["invalid"])
    return _page(pages, reader, f"<h1>{invalid}</h1>", 404)


def _secret(request: Request) -> str:
    secret = request.app.state.settings.link_secret
    return secret.get_secret_value() if secret else ""


@router.get(UNSUBSCRIBE_PATH + "{ref}", response_class=HTMLResponse)
async def unsubscribe_page(ref: str, request: Request, conn: Connection) -> HTMLResponse:
    pages: Pages = request.app.state.web_pages
    subscription_id = verify(_secret(request), ref)
    found = None if subscription_id is None else await qs.subscription_by_id(conn, subscription_id)
    if found is None:
        return _invalid(pages, request)
    medium, stored, active = found
    language = stored if stored in _TEXT else "en"
    words = _TEXT[language]
    medium_word = words.get(medium, medium)
    if not active:
        done = html.escape(words["done"].format(medium=medium_word))
        again = html.escape(words["again"])
        return _page(pages, language, f'<h1 id="unsubscribed">{done}</h1><p>{again}</p>')
    ask = html.escape(words["ask"].format(medium=medium_word))
    action = html.escape(UNSUBSCRIBE_PATH + ref, quote=True)
    button = html.escape(words["button"])
    form = (
        f'<h1>{ask}</h1><form method="post" action="{action}">'
        f'<button type="submit" id="unsubscribe">{button}</button></form>'
    )
    return _page(pages, language, form)


@router.post(UNSUBSCRIBE_PATH + "{ref}", response_class=HTMLResponse)
async def unsubscribe(ref: str, request: Request, conn: Connection) -> HTMLResponse:
    pages: Pages = request.app.state.web_pages
    subscription_id = verify(_secret(request), ref)
    done = None if subscription_id is None else await qs.unsubscribe_by_id(conn, subscription_id)
    if done is None:
        return _invalid(pages, request)
    medium, stored = done
    language = stored if stored in _TEXT else "en"
    words = _TEXT[language]
    text = html.escape(words["done"].format(medium=words.get(medium, medium)))
    again = html.escape(words["again"])
    return _page(pages, language, f'<h1 id="unsubscribed">{text}</h1><p>{again}</p>')
