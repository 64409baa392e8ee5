"""The shopper's journey as pure code: steps and kinds, quiet hours, the signed unsubscribe link,
and a message rendered with its frame (name, brand, links) as text, HTML and SMS."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.shopper_links import sign, unsubscribe_url, verify
from alerts.shopper_render import Frame, render_shopper
from alerts.shopper_steps import (
    BY_STATUS,
    KINDS,
    STEPS,
    QuietHours,
    parse_kinds,
    step_key,
)
from alerts.shopper_templates import TEXTS

PARIS = ZoneInfo("Europe/Paris")
TAXONOMY = {
    "InfoReceived",
    "InTransit",
    "OutForDelivery",
    "AttemptFail",
    "Delivered",
    "AvailableForPickup",
    "Exception",
    "Expired",
    "Pending",
}


def test_every_step_has_both_languages_with_the_same_keys_and_a_known_status() -> None:
    assert set(TEXTS) == {s.template for s in STEPS}
    assert {s.kind for s in STEPS} == set(KINDS)
    assert set(BY_STATUS) <= TAXONOMY
    fields = string.Formatter()
    for name, texts in TEXTS.items():
        assert set(texts) == {"en", "fr"}, name

        def keys(lang: str, texts: dict = texts) -> set[str]:  # type: ignore[type-arg]
            text = texts[lang]
            parts = [text.subject, text.body, *text.extras.values()]
            return {f for p in parts for _, f, _, _ in fields.parse(p) if f}

        assert keys("en") == keys("fr"), name
        assert texts["en"].extras.keys() == texts["fr"].extras.keys(), name
    assert [s.template for s in STEPS if s.urgent] == ["condition_incident"]
    assert [s.template for s in STEPS if s.closing] == ["delivered"]


def test_one_key_per_step_per_shipment_and_the_delay_keeps_its_old_key() -> None:
    assert step_key(7, "out_for_delivery") == "shipment:7:step:out_for_delivery"
    assert step_key(7, "delay") == "shipment:7:delay"  # what the lateness watch always used
    assert parse_kinds(["incidents", "progress"]) == ("progress", "incidents")
    with pytest.raises(ValueError, match="unknown kind 'ads'"):
        parse_kinds(["ads"])
    with pytest.raises(ValueError, match="non-empty"):
        parse_kinds([])


@pytest.mark.parametrize(
    ("local", "ends"),
    [
        (datetime(2027, 1, 15, 22, 30), datetime(2027, 1, 16, 8, 0)),  # evening: next morning
        (datetime(2027, 1, 16, 6, 59), datetime(2027, 1, 16, 8, 0)),  # early morning: today
        (datetime(2027, 1, 15, 8, 0), None),  # the end itself is not quiet
        (datetime(2027, 1, 15, 20, 59), None),
        (datetime(2027, 1, 15, 21, 0), datetime(2027, 1, 16, 8, 0)),
        (datetime(2027, 3, 27, 23, 0), datetime(2027, 3, 28, 8, 0)),  # over the DST change
    ],
)
def test_quiet_hours_across_midnight_in_the_shoppers_zone(
    local: datetime, ends: datetime | None
) -> None:
    quiet = QuietHours.parse("21:00-08:00", "Europe/Paris")
    until = quiet.until(local.replace(tzinfo=PARIS).astimezone(UTC))
    if ends is None:
        assert until is None
    else:
        assert until is not None and until.astimezone(PARIS).replace(tzinfo=None) == ends
        assert until.utcoffset() is not None


def test_quiet_hours_within_a_day_and_bad_spans() -> None:
    lunch = QuietHours.parse("12:00-14:00", "UTC")
    assert lunch.until(datetime(2027, 1, 1, 13, 0, tzinfo=UTC)) == datetime(
        2027, 1, 1, 14, 0, tzinfo=ZoneInfo("UTC")
    )
    assert lunch.until(datetime(2027, 1, 1, 15, 0, tzinfo=UTC)) is None
    with pytest.raises(ValueError, match="expected HH:MM-HH:MM"):
        QuietHours.parse("9pm-8am", "UTC")
    with pytest.raises(ValueError, match="the same time"):
        QuietHours.parse("08:00-08:00", "UTC")


def test_the_unsubscribe_link_is_signed_for_one_subscription() -> None:
    secret = "s" * 40
    ref = sign(secret, 42)
    assert ref.startswith("42.") and verify(secret, ref) == 42
    assert verify("t" * 40, ref) is None
    assert verify(secret, ref.replace("42.", "43.")) is None
    for junk in ("", "42", "42.", "x.abc", "4" * 30 + ".abc", ref + "=" * 60):
        assert verify(secret, junk) is None
    assert unsubscribe_url("https://t.example/", secret, 42) == f"https://t.example/u/{ref}"
    with pytest.raises(ValueError, match="empty"):
        sign("", 1)


FRAME = Frame(
    name="Camille",
    brand="Pharmacie du Parc",
    color="#0b6e4f",
    help_url="https://pharmacie.example/aide",
    unsubscribe_url="https://t.example/u/1.abc",
    zone=PARIS,
)


def test_a_message_in_french_with_its_frame_as_text_html_and_sms() -> None:
    message = render_shopper(
        "delivered",
        "fr",
        {
            "tracking_number": "CT-1",
            "time": "2027-01-15T14:05:00+00:00",
            "location": "Villeurbanne",
            "received_by": "<b>Sam</b>",
            "signature_name": None,
            "photo_url": "",
        },
        FRAME,
    )
    assert message.subject == "Pharmacie du Parc · Votre colis CT-1 a été livré"
    assert message.text.splitlines()[0] == "Bonjour Camille,"
    assert "livré le 15/01/2027 à 15:05 CET. Lieu : Villeurbanne. Reçu par <b>Sam</b>." in (
        message.text
    )
    assert "Signé" not in message.text and "Photo" not in message.text  # no value: no sentence
    assert "Une question ? https://pharmacie.example/aide" in message.text
    assert message.text.endswith("Pour ne plus recevoir ces messages : https://t.example/u/1.abc")
    assert "&lt;b&gt;Sam&lt;/b&gt;" in message.html and "<b>Sam" not in message.html
    assert '<a href="https://t.example/u/1.abc">' in message.html
    assert message.sms.startswith("Pharmacie du Parc: Votre colis CT-1 a été livré le")
    assert message.sms.endswith("Stop : https://t.example/u/1.abc")
    assert (message.level, message.language, message.missing) == ("success", "fr", ())


def test_english_without_a_name_a_brand_or_a_remedy() -> None:
    message = render_shopper(
        "condition_incident",
        "en-GB",
        {
            "tracking_number": "CT-2",
            "started_at": "2027-07-01T10:00:00Z",
            "peak": 9.44,
            "limit": 8.0,
        },
        Frame(zone=PARIS),
    )
    assert message.subject == "Important: the temperature of your parcel CT-2"
    assert message.text.startswith("Hello,\n\nWhat happened: on 01 Jul 2027, 12:00 CEST")
    assert "(9.4 °C against a limit of 8.0 °C)" in message.text
    assert "What we do: we will contact you; until then, do not use the product." in message.text
    assert "unsubscribe" not in message.text.lower() and message.level == "failure"
    # A remedy the merchant configured.
    refund = render_shopper("condition_incident", "en", {"remedy": "refund"}, FRAME)
    assert "What we do: we refund you in full." in refund.text
    assert refund.missing == ("tracking_number", "started_at", "peak", "limit")
