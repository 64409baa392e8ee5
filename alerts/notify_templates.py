"""Notification messages in French and English: a subject and a plain-text body per template.

Templates are ``str.format`` strings over the notice's context (``{parcel_id}``, ``{peak:.1f}``).
Rendering never fails: a key missing from the context becomes a visible placeholder (and a
warning in the log), a value that does not fit its format is shown as it is, an ISO 8601 time
is shown as ``2026-03-01 14:05 UTC``, and a language without translations falls back to English.

The shopper hears of each step of the journey (alerts/shopper_templates.py, issue 17), in plain
words, without promises we cannot keep.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from alerts.shopper_templates import TEXTS as SHOPPER_TEXTS

log = logging.getLogger(__name__)

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")
DEFAULT_LANGUAGE: Language = "en"

Level = Literal["info", "success", "warning", "failure"]
"""How a channel may show the message (apprise's notify types: colour, icon)."""

ContextValue = str | int | float | None


@dataclass(frozen=True, slots=True)
class Text:
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    level: Level
    keys: tuple[str, ...]
    """The context keys the English texts use (the French ones use the same: tested)."""
    texts: Mapping[Language, Text]


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str
    level: Level
    language: Language
    missing: tuple[str, ...] = ()


def _t(name: str, level: Level, en: tuple[str, str], fr: tuple[str, str]) -> Template:
    keys = dict.fromkeys(
        field for part in en for _, field, _, _ in string.Formatter().parse(part) if field
    )
    return Template(name, level, tuple(keys), {"en": Text(*en), "fr": Text(*fr)})


# The messages of the operations and quality teams.
STAFF_TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        _t(
            "excursion_started",
            "warning",
            (
                "[{severity}] Temperature excursion: parcel {parcel_id} ({tracking_number})",
                "Parcel {parcel_id} of shipment {tracking_number} has been out of its temperature"
                " range since {started_at}: {peak:.1f} °C against a limit of {limit:.1f} °C."
                " Its condition: {condition}.",
            ),
            (
                "[{severity}] Excursion de température : colis {parcel_id} ({tracking_number})",
                "Le colis {parcel_id} de l'envoi {tracking_number} est hors de sa plage de"
                " température depuis le {started_at} : {peak:.1f} °C pour une limite de"
                " {limit:.1f} °C. Son état : {condition}.",
            ),
        ),
        _t(
            "excursion_ended",
            "info",
            (
                "Excursion ended: parcel {parcel_id} ({tracking_number})",
                "Parcel {parcel_id} of shipment {tracking_number} came back within its"
                " temperature range on {ended_at}. The excursion began on {started_at} and lasted"
                " {duration_min:.0f} min; peak {peak:.1f} °C against a limit of {limit:.1f} °C;"
                " {area:.1f} °C·min beyond the limit.",
            ),
            (
                "Fin d'excursion : colis {parcel_id} ({tracking_number})",
                "Le colis {parcel_id} de l'envoi {tracking_number} est revenu dans sa plage de"
                " température le {ended_at}. L'excursion a commencé le {started_at} et a duré"
                " {duration_min:.0f} min ; pic {peak:.1f} °C pour une limite de {limit:.1f} °C ;"
                " {area:.1f} °C·min au-delà de la limite.",
            ),
        ),
        _t(
            "budget_exhausted",
            "failure",
            (
                "[{severity}] Excursion budget exhausted: parcel {parcel_id} ({tracking_number})",
                "Parcel {parcel_id} of shipment {tracking_number} has now spent"
                " {duration_min:.0f} min in total beyond {limit:.1f} °C (budget exhausted on"
                " {started_at}; peak {peak:.1f} °C). Its product may no longer be usable:"
                " check it before delivery. Its condition: {condition}.",
            ),
            (
                "[{severity}] Budget d'excursion épuisé : colis {parcel_id} ({tracking_number})",
                "Le colis {parcel_id} de l'envoi {tracking_number} a passé au total"
                " {duration_min:.0f} min au-delà de {limit:.1f} °C (budget épuisé le"
                " {started_at} ; pic {peak:.1f} °C). Le produit n'est peut-être plus utilisable :"
                " vérifiez-le avant la livraison. Son état : {condition}.",
            ),
        ),
        _t(
            "exception_opened",
            "warning",
            (
                "[{severity}] Exception {exception_id} opened on shipment {tracking_number}",
                "Exception {exception_id} was opened on shipment {tracking_number}: {title}."
                " It waits in the exception queue for someone to acknowledge it.",
            ),
            (
                "[{severity}] Exception {exception_id} ouverte sur l'envoi {tracking_number}",
                "L'exception {exception_id} a été ouverte sur l'envoi {tracking_number} :"
                " {title}. Elle attend dans la file des exceptions que quelqu'un la prenne en"
                " charge.",
            ),
        ),
        _t(
            "gateway_offline",
            "warning",
            (
                "Gateway {gateway_id} offline",
                "Gateway {gateway_id} (vehicle {vehicle_id}) has been silent since {since}."
                " Its sensors are not reported one by one; their readings arrive when it is"
                " back, if its outbox holds them.",
            ),
            (
                "Passerelle {gateway_id} hors ligne",
                "La passerelle {gateway_id} (véhicule {vehicle_id}) ne donne plus de nouvelles"
                " depuis le {since}. Ses capteurs ne sont pas signalés un par un ; leurs mesures"
                " arriveront à son retour si elle les a gardées.",
            ),
        ),
        _t(
            "gateway_online",
            "success",
            (
                "Gateway {gateway_id} back online",
                "Gateway {gateway_id} (vehicle {vehicle_id}) came back online on {since},"
                " after {duration_min:.0f} min offline.",
            ),
            (
                "Passerelle {gateway_id} de nouveau en ligne",
                "La passerelle {gateway_id} (véhicule {vehicle_id}) est de nouveau en ligne"
                " depuis le {since}, après {duration_min:.0f} min hors ligne.",
            ),
        ),
        _t(
            "sensor_silent",
            "warning",
            (
                "Sensor {device_id} silent",
                "Sensor {device_id} has sent nothing since {since}, although its gateway"
                " {gateway_id} is online: check its battery or its place in the vehicle.",
            ),
            (
                "Capteur {device_id} muet",
                "Le capteur {device_id} n'envoie plus rien depuis le {since}, alors que sa"
                " passerelle {gateway_id} est en ligne : vérifiez sa pile ou sa place dans le"
                " véhicule.",
            ),
        ),
        _t(
            "shock",
            "warning",
            (
                "[{severity}] Shock on parcel {parcel_id} ({tracking_number})",
                "Parcel {parcel_id} of shipment {tracking_number} took {count} shock(s) above"
                " {limit:.1f} g from {started_at}, the strongest {peak:.1f} g.",
            ),
            (
                "[{severity}] Choc sur le colis {parcel_id} ({tracking_number})",
                "Le colis {parcel_id} de l'envoi {tracking_number} a subi {count} choc(s) de"
                " plus de {limit:.1f} g à partir du {started_at}, le plus fort de {peak:.1f} g.",
            ),
        ),
        _t(
            "delay",
            "warning",
            (
                "Shipment {tracking_number} is late",
                "Shipment {tracking_number} was promised for {promised_at}; it is now expected"
                " on {eta}. Reason: {reason}.",
            ),
            (
                "L'envoi {tracking_number} est en retard",
                "L'envoi {tracking_number} était promis pour le {promised_at} ; il est"
                " maintenant attendu le {eta}. Raison : {reason}.",
            ),
        ),
        # What the rule runner sends for the other rules (humidity, MKT, battery...).
        _t(
            "alert_opened",
            "warning",
            (
                "[{severity}] {kind} alert on {subject}",
                "A {kind} alert opened on {subject} (shipment {tracking_number}) on"
                " {started_at}: {peak} against a limit of {limit}.",
            ),
            (
                "[{severity}] Alerte {kind} sur {subject}",
                "Une alerte {kind} s'est ouverte sur {subject} (envoi {tracking_number}) le"
                " {started_at} : {peak} pour une limite de {limit}.",
            ),
        ),
        _t(
            "alert_closed",
            "info",
            (
                "{kind} alert ended on {subject}",
                "The {kind} alert on {subject} (shipment {tracking_number}) ended on {ended_at}"
                " after {duration_min:.0f} min; peak {peak} against a limit of {limit}.",
            ),
            (
                "Fin de l'alerte {kind} sur {subject}",
                "L'alerte {kind} sur {subject} (envoi {tracking_number}) a pris fin le"
                " {ended_at} après {duration_min:.0f} min ; pic {peak} pour une limite de"
                " {limit}.",
            ),
        ),
    )
}

# What the shopper is told at each step of the journey (alerts/shopper_templates.py: the texts;
# alerts/shopper_render.py: the greeting, brand and links around them).
_SHOPPER_LEVEL: dict[str, Level] = {
    "delivered": "success",
    "attempt_failed": "warning",
    "delay": "warning",
    "condition_incident": "failure",
}
SHOPPER_TEMPLATES: dict[str, Template] = {
    name: _t(
        name,
        _SHOPPER_LEVEL.get(name, "info"),
        (texts["en"].subject, texts["en"].body),
        (texts["fr"].subject, texts["fr"].body),
    )
    for name, texts in SHOPPER_TEXTS.items()
}

TEMPLATE_NAMES = frozenset(STAFF_TEMPLATES) | frozenset(SHOPPER_TEMPLATES)

# Words of the context that are enumerations rather than data, said in the reader's language.
_WORDS: dict[Language, dict[str, str]] = {
    "en": {
        "in_spec": "in spec",
        "excursion_within_allowance": "an excursion within the product's allowance",
        "out_of_spec": "out of spec",
        "no_data": "no reading judged yet",
    },
    "fr": {
        "in_spec": "conforme",
        "excursion_within_allowance": "un écart dans la tolérance du produit",
        "out_of_spec": "non conforme",
        "no_data": "aucune mesure jugée",
        "critical": "critique",
        "warning": "avertissement",
        "info": "info",
        "excursion": "excursion",
        "budget": "budget",
        "mkt": "TCM",
        "shock": "choc",
        "humidity": "humidité",
        "battery": "pile",
    },
}
_MISSING: dict[Language, str] = {"en": "[missing: {}]", "fr": "[manquant : {}]"}
_UNKNOWN: dict[Language, str] = {"en": "unknown", "fr": "inconnu"}
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")


def template_for(audience: str, name: str) -> Template:
    """The template of ``name`` for ``audience``; ValueError naming what exists."""
    table = SHOPPER_TEMPLATES if audience == "shopper" else STAFF_TEMPLATES
    try:
        return table[name]
    except KeyError:
        if audience == "shopper" and name in STAFF_TEMPLATES:
            raise ValueError(
                f"the shopper is told of the steps of the journey only, not {name!r}"
                f" (shopper templates: {', '.join(sorted(SHOPPER_TEMPLATES))})"
            ) from None
        raise ValueError(
            f"unknown notification template {name!r} for the {audience} audience"
            f" (known: {', '.join(sorted(table))})"
        ) from None


def language_of(requested: str | None, default: Language = DEFAULT_LANGUAGE) -> Language:
    """``requested`` if we have its translations ('fr-CA' counts as 'fr'), else ``default``."""
    if requested:
        base = requested.strip().lower().replace("_", "-").split("-")[0]
        for language in LANGUAGES:
            if base == language:
                return language
    return default


class Formatter(string.Formatter):
    """``str.format`` that never fails, in a reader's language (see the module's docstring);
    the keys it did not find are in ``missing``."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self.missing: list[str] = []

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str) and key in kwargs:
            return kwargs[key]
        self.missing.append(str(key))
        return _Placeholder(_MISSING[self.language].format(key))

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Placeholder):
            return str(value)
        if value is None:
            return _UNKNOWN[self.language]
        if isinstance(value, str):
            if _ISO_TIME.match(value):
                return _human_time(value)
            value = _WORDS[self.language].get(value, value)
        try:
            text = str(super().format_field(value, format_spec))
        except (ValueError, TypeError):
            return str(value)  # e.g. {peak:.1f} given "n/a": show it as it is
        if self.language == "fr" and isinstance(value, int | float):
            text = text.replace(".", ",")  # 9,4 °C
        return text


class _Placeholder(str):
    __slots__ = ()


def _human_time(value: str) -> str:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(
    template: Template, language: str | None, context: Mapping[str, ContextValue], *, ref: str = ""
) -> Rendered:
    """Subject and body of ``template`` in ``language`` (English when we have no translation).

    ``ref`` (the notice's key, for staff messages) is added at the end, so that a reader can
    match a message with the outbox and tell a rare duplicate from a new notice.
    """
    lang = language_of(language)
    text = template.texts[lang]
    formatter = Formatter(lang)
    subject = formatter.format(text.subject, **context)
    body = formatter.format(text.body, **context)
    if ref:
        body += f"\n\nref: {ref}"
    missing = tuple(dict.fromkeys(formatter.missing))
    if missing:
        log.warning(
            "notification template %s (%s) rendered without %s: placeholders shown instead",
            template.name,
            lang,
            ", ".join(missing),
        )
    return Rendered(subject, body, template.level, lang, missing)
