"""Notification templates: every one renders in both languages; nothing crashes on bad context."""

import datetime
import logging
import string

import pytest

from alerts.notifications import Notice
from alerts.notify_templates import (
    LANGUAGES,
    SHOPPER_TEMPLATES,
    STAFF_TEMPLATES,
    Template,
    language_of,
    render,
    template_for,
)
from alerts.shopper_steps import STEPS

# A full context: every key any template uses, with the types the rule runner gives.
FULL = {
    "tracking_number": "CT4821-7",
    "parcel_id": "P-0042",
    "subject": "P-0042",
    "device_id": "A4:C1:38:00:00:01",
    "gateway_id": "gw-van-1",
    "vehicle_id": "van-1",
    "severity": "critical",
    "kind": "humidity",
    "rule": "pharma-2-8/upper",
    "peak": 9.437,
    "limit": 8.0,
    "started_at": "2026-03-01T13:05:00+00:00",
    "ended_at": "2026-03-01T13:47:30+00:00",
    "since": "2026-03-01T12:00:00+00:00",
    "duration_min": 42.5,
    "area": 31.74,
    "count": 3,
    "exception_id": 17,
    "title": "Temperature above 8 °C on parcel P-0042 (peak 9.4)",
    "promised_at": "2026-03-02",
    "eta": "2026-03-03",
    "reason": "the van broke down near Lyon",
    "tracking_url": "https://track.example.com/CT4821-7?token=abc",
    "condition": "excursion_within_allowance",
    "time": "2026-03-01T15:00:00+00:00",
    "eta_from": "2026-03-01T15:10:00+00:00",
    "eta_to": "2026-03-01T15:40:00+00:00",
    "meaning": "the product may no longer be safe",
    "remedy": "we send a replacement",
}

ALL = [("staff", t) for t in STAFF_TEMPLATES.values()] + [
    ("shopper", t) for t in SHOPPER_TEMPLATES.values()
]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("who", "template"), ALL, ids=lambda v: getattr(v, "name", v))
def test_every_template_renders_in_both_languages_with_a_full_context(
    who: str, template: Template, language: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        text = render(template, language, FULL)
    assert text.missing == ()
    assert caplog.records == []
    assert text.language == language
    for part in (text.subject, text.body):
        assert "{" not in part and "}" not in part and "[missing" not in part
    assert text.subject and "\n" not in text.subject
    # the keys it declares are exactly those its texts use, in each language
    for texts in template.texts.values():
        used = {
            field
            for part in (texts.subject, texts.body)
            for _, field, _, _ in string.Formatter().parse(part)
            if field
        }
        assert used == set(template.keys)
    other = "fr" if language == "en" else "en"
    assert text.body != render(template, other, FULL).body


def test_values_are_shown_for_people() -> None:
    text = render(STAFF_TEMPLATES["excursion_started"], "en", FULL)
    assert "9.4 °C" in text.body and "8.0 °C" in text.body
    assert "2026-03-01 13:05 UTC" in text.body  # not the raw ISO string
    assert text.subject.startswith("[critical]")
    french = render(STAFF_TEMPLATES["excursion_started"], "fr", FULL)
    assert french.subject.startswith("[critique]")
    assert "Excursion de température" in french.subject
    assert "9,4 °C" in french.body and "8,0 °C" in french.body  # the French decimal comma


def test_a_missing_key_renders_a_placeholder_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    context = {k: v for k, v in FULL.items() if k != "parcel_id"}
    with caplog.at_level(logging.WARNING):
        text = render(STAFF_TEMPLATES["excursion_started"], "en", context)
        french = render(STAFF_TEMPLATES["excursion_started"], "fr", context)
    assert "[missing: parcel_id]" in text.subject and "[missing: parcel_id]" in text.body
    assert "[manquant : parcel_id]" in french.body
    assert text.missing == ("parcel_id",)
    assert any("parcel_id" in r.getMessage() for r in caplog.records)


def test_the_condition_is_told_in_the_readers_language() -> None:
    english = render(
        STAFF_TEMPLATES["excursion_started"], "en", {**FULL, "condition": "out_of_spec"}
    )
    french = render(STAFF_TEMPLATES["budget_exhausted"], "fr", FULL)
    assert english.body.endswith("Its condition: out of spec.")
    assert "Son état : un écart dans la tolérance du produit." in french.body


def test_a_value_that_does_not_fit_its_format_is_shown_as_it_is() -> None:
    text = render(STAFF_TEMPLATES["excursion_started"], "en", {**FULL, "peak": "n/a"})
    assert "n/a °C" in text.body
    unknown = render(STAFF_TEMPLATES["excursion_started"], "fr", {**FULL, "limit": None})
    assert "inconnu °C" in unknown.body


def test_unknown_languages_fall_back_to_english_and_regional_ones_are_understood() -> None:
    assert language_of("de") == "en"
    assert language_of(None) == "en"
    assert language_of("fr-CA") == "fr"
    assert language_of("FR_be") == "fr"
    assert render(SHOPPER_TEMPLATES["delay"], "de", FULL).language == "en"


def test_the_reference_is_added_only_when_given() -> None:
    staff = render(STAFF_TEMPLATES["delay"], "en", FULL, ref="shipment:9:late")
    assert staff.body.endswith("ref: shipment:9:late")
    assert "ref:" not in render(SHOPPER_TEMPLATES["delay"], "en", FULL).body


def test_the_shopper_is_told_the_steps_of_the_journey_not_the_staff_messages() -> None:
    assert set(SHOPPER_TEMPLATES) == {s.template for s in STEPS}
    with pytest.raises(ValueError, match="steps of the journey only"):
        template_for("shopper", "excursion_started")
    with pytest.raises(ValueError, match="steps of the journey only"):
        Notice("alert:1:opened", "shopper", "excursion_started", shipment_id=1)
    body = render(SHOPPER_TEMPLATES["delay"], "en", FULL).body
    assert "sorry" in body and "ref:" not in body


def test_notices_refuse_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="unknown notification template 'exploded'"):
        Notice("k", "ops", "exploded")
    with pytest.raises(ValueError, match="unknown audience"):
        Notice("k", "everyone", "delay")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="deduplication key"):
        Notice(" ", "ops", "delay")
    with pytest.raises(ValueError, match="needs its shipment_id"):
        Notice("k", "shopper", "delay")
    with pytest.raises(ValueError, match="context value 'at' is a datetime"):
        Notice("k", "ops", "delay", context={"at": datetime.datetime(2026, 1, 1)})  # type: ignore[dict-item]
    assert Notice("k", "ops", "alert_opened", context=FULL).template == "alert_opened"
