"""A shopper's message as it is sent: the step's text (alerts/shopper_templates.py) in the
shopper's language, framed by a greeting with their name, the merchant's brand, the help link
and the signed unsubscribe link; as plain text, as HTML (e-mail) and as a short text (SMS).

Pure code: the dispatcher reads the name, brand and links when it sends, and passes them here.
Times are shown in the shopper's time zone (``Frame.zone``), not UTC.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.notify_templates import (
    ContextValue,
    Formatter,
    Language,
    Level,
    language_of,
    template_for,
)
from alerts.shopper_templates import FRAME, MEANING, REMEDY, TEXTS

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
_URL = re.compile(r"https?://[^\s<>\"]+")
UTC_ZONE = ZoneInfo("UTC")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_TIME_FORMAT: dict[Language, str] = {"en": "%d %b %Y, %H:%M %Z", "fr": "%d/%m/%Y à %H:%M %Z"}


@dataclass(frozen=True, slots=True)
class Frame:
    """What surrounds a step's text: read when the message is sent."""

    name: str | None = None
    brand: str | None = None
    color: str | None = None
    help_url: str | None = None
    unsubscribe_url: str | None = None
    zone: ZoneInfo = UTC_ZONE


@dataclass(frozen=True, slots=True)
class ShopperMessage:
    subject: str
    text: str
    html: str
    sms: str
    level: Level
    language: Language
    missing: tuple[str, ...] = ()


def local_time(value: str, language: Language, zone: ZoneInfo) -> str:
    """An ISO 8601 time as the shopper reads it, in their zone; other text unchanged."""
    if not _ISO.match(value):
        return value
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return at.astimezone(zone).strftime(_TIME_FORMAT[language])


def render_shopper(
    template: str,
    language: str | None,
    context: Mapping[str, ContextValue],
    frame: Frame,
) -> ShopperMessage:
    """The message of ``template`` (a shopper step) in ``language`` (English when we have no
    translation); never fails (a missing key shows as a placeholder, as staff messages do)."""
    lang = language_of(language)
    level = template_for("shopper", template).level
    text = TEXTS[template][lang]
    values: dict[str, ContextValue] = {
        key: local_time(value, lang, frame.zone) if isinstance(value, str) else value
        for key, value in context.items()
    }
    values["meaning"] = MEANING["out_of_spec"][lang]
    remedy = context.get("remedy")
    values["remedy"] = REMEDY.get(remedy if isinstance(remedy, str) else None, REMEDY[None])[lang]
    formatter = Formatter(lang)
    subject = formatter.format(text.subject, **values)
    body = [formatter.format(text.body, **values)]
    for key, extra in text.extras.items():
        if values.get(key) not in (None, ""):
            body.append(formatter.format(extra, **values))
    words = FRAME[lang]
    brand = frame.brand or None
    if brand:
        subject = f"{brand} · {subject}"
    hello = words["hello"].format(name=frame.name) if frame.name else words["hello_anonymous"]
    paragraphs = [hello, " ".join(body), words["follow"]]
    if frame.help_url:
        paragraphs.append(words["help"].format(help_url=frame.help_url))
    if brand:
        paragraphs.append(words["signature"].format(brand=brand))
    footer = (
        words["unsubscribe"].format(unsubscribe_url=frame.unsubscribe_url)
        if frame.unsubscribe_url
        else None
    )
    plain = "\n\n".join([*paragraphs, *([footer] if footer else [])])
    sms_parts = [f"{brand}: " if brand else "", " ".join(body)]
    if frame.unsubscribe_url:
        sms_parts.append(
            " " + words["unsubscribe_sms"].format(unsubscribe_url=frame.unsubscribe_url)
        )
    return ShopperMessage(
        subject=subject,
        text=plain,
        html=_html(subject, paragraphs, footer, frame.color, lang),
        sms="".join(sms_parts),
        level=level,
        language=lang,
        missing=tuple(dict.fromkeys(formatter.missing)),
    )


def _linked(text: str) -> str:
    """``text`` escaped for HTML, its http(s) URLs as links."""
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last : match.start()]))
        url = html.escape(match.group(0), quote=True)
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _html(
    subject: str, paragraphs: list[str], footer: str | None, color: str | None, lang: str
) -> str:
    brand_color = color if color and _COLOR.match(color) else "#1f4e79"
    parts = [
        "<!doctype html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{html.escape(subject)}</title></head>",
        '<body style="font-family:sans-serif;line-height:1.5;color:#111418;margin:0">',
        f'<div style="background:{brand_color};color:#ffffff;padding:12px 16px;font-weight:bold">'
        f"{html.escape(subject)}</div>",
        '<div style="padding:16px">',
        *(f"<p>{_linked(p)}</p>" for p in paragraphs),
    ]
    if footer:
        parts.append(f'<p style="font-size:small;color:#555">{_linked(footer)}</p>')
    parts.append("</div></body></html>")
    return "\n".join(parts)
