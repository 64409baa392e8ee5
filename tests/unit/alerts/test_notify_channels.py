"""Routing: which channels each audience has, what is sent where, and no secret leaking out."""

import logging

import pytest

from alerts.io.notify_channels import build_channels, with_idempotency_key
from coldtrail.errors import ConfigError
from coldtrail.settings import NotifySettings, load

OPS_HOOK = "jsons://hook:hunter2-pass@hooks.example.com/coldtrail/ops"
SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#cold-chain"
QUALITY_MAIL = "mailtos://quality:mail-s3cret@smtp.example.com?to=qa@shipper.example"
SHOPPER = "mailtos://noreply:shop-s3cret@smtp.example.com?to={contact}"
SECRETS = ("hunter2-pass", "TIiajkdnlazkcOXrIdevi7FQ", "mail-s3cret", "shop-s3cret")


def settings(**overrides: object) -> NotifySettings:
    return load(
        NotifySettings,
        **{
            "ops_urls": [OPS_HOOK, SLACK],
            "quality_urls": [QUALITY_MAIL],
            "shopper_url_template": SHOPPER,
            **overrides,
        },
    )


def test_each_audience_gets_its_own_channels_with_labels_that_hold_no_secret() -> None:
    channels = build_channels(settings())
    assert [c.audience for c in channels.of("ops")] == ["ops", "ops"]
    assert len(channels.of("quality")) == 1
    assert len(channels.of("shopper")) == 1
    for channel in channels.by_id.values():
        assert channel.channel_id.startswith(channel.audience + "-")
        assert not any(s in channel.label for s in SECRETS), channel.label
        assert not any(s in repr(channel) for s in SECRETS)
    assert channels.of("ops")[0].label.startswith("jsons://hook:")
    assert channels.of("shopper")[0].label == "mailtos://smtp.example.com (shopper contact)"


def test_no_channel_for_an_audience_when_none_is_configured() -> None:
    channels = build_channels(load(NotifySettings))
    assert channels.by_id == {}
    assert channels.of("ops") == [] and channels.of("shopper") == []


def test_channel_ids_survive_a_password_rotation_and_differ_between_endpoints() -> None:
    before = build_channels(settings())
    after = build_channels(settings(ops_urls=[OPS_HOOK.replace("hunter2-pass", "new-pass-9")]))
    assert before.of("ops")[0].channel_id == after.of("ops")[0].channel_id
    other = build_channels(settings(ops_urls=[OPS_HOOK.replace("/ops", "/other")]))
    assert other.of("ops")[0].channel_id != before.of("ops")[0].channel_id


def test_the_shopper_contact_is_filled_in_quoted() -> None:
    shopper = build_channels(settings()).of("shopper")[0]
    assert shopper.target("ana+cold@example.com").endswith("?to=ana+cold@example.com")
    assert shopper.target("a b&c").endswith("?to=a%20b%26c")
    with pytest.raises(ValueError, match="contact"):
        shopper.target(None)


def test_webhooks_carry_the_idempotency_key_and_other_services_are_left_alone() -> None:
    url = with_idempotency_key("json://127.0.0.1:8080/hook?method=PUT", "alert:12:opened")
    assert url == "json://127.0.0.1:8080/hook?method=PUT&%2BIdempotency-Key=alert%3A12%3Aopened"
    assert with_idempotency_key("jsons://h/x", "k").endswith("/x?%2BIdempotency-Key=k")
    assert with_idempotency_key(SLACK, "k") == SLACK


def test_redaction_masks_every_credential_of_every_channel() -> None:
    channels = build_channels(settings())
    text = f"failed for {OPS_HOOK} with password hunter2-pass; slack {SLACK}; mail-s3cret"
    redacted = channels.redact(text)
    assert not any(s in redacted for s in SECRETS), redacted
    assert "***" in redacted


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("ops_urls", ["nosuchservice://user:pw-12345@x/y"], r"OPS_URLS\[0\] is not an apprise URL"),
        ("ops_urls", [OPS_HOOK, "pw-12345-no-scheme"], r"OPS_URLS\[1\] is not an apprise URL"),
        ("quality_urls", ["json://a/b, json://c/d"], r"QUALITY_URLS\[0\] must be exactly one"),
        ("ops_urls", [OPS_HOOK, OPS_HOOK], r"OPS_URLS\[1\] repeats an earlier channel"),
    ],
)
def test_bad_urls_stop_start_up_naming_the_entry_not_its_secret(
    field: str, value: list[str], match: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError, match=match) as err:
        build_channels(settings(**{field: value}))
    for secret in ("pw-12345", "hunter2-pass"):
        assert secret not in str(err.value)
        assert secret not in caplog.text  # apprise's own complaint is kept out of the log


def test_the_shopper_template_must_say_where_the_contact_goes() -> None:
    with pytest.raises(ConfigError, match=r"SHOPPER_URL_TEMPLATE: .*must contain \{contact\}"):
        load(NotifySettings, shopper_url_template="mailtos://u:p@smtp.example.com")


SMTP = {"host": "smtp.shop.example", "password": "smtp-s3cret-pw", "sender": "t@shop.example"}
SMS = "smseagles://sms-t0ken-0123456789@sms.shop.example/{contact}"
LINKS = {"public_url": "https://track.shop.example", "link_secret": "x" * 40}


def test_the_shoppers_email_and_sms_channels_serve_their_medium_without_a_secret_shown() -> None:
    channels = build_channels(settings(smtp=SMTP, sms_url_template=SMS, **LINKS))
    shopper = {c.medium: c for c in channels.of("shopper")}
    assert set(shopper) == {None, "email", "sms"}
    assert shopper["email"].label == "smtp://smtp.shop.example:587 (shopper e-mail)"
    assert shopper["email"].transport == "smtp" and shopper["sms"].transport == "apprise"
    assert shopper["sms"].label == "smseagles://sms.shop.example (shopper SMS)"
    assert shopper["sms"].target("+33612345678").endswith("/+33612345678")
    for channel in channels.by_id.values():
        assert "smtp-s3cret-pw" not in channel.label + repr(channel)
        assert "sms-t0ken" not in channel.label + repr(channel)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"smtp": SMTP}, "public_url is needed"),
        ({"smtp": SMTP, "public_url": "https://t.example", "link_secret": "short"}, "link_secret"),
        ({"sms_url_template": "smseagles://t@h/+33600000000", **LINKS}, "must contain {contact}"),
        ({"smtp": {**SMTP, "security": "ssl-please"}, **LINKS}, "COLDTRAIL_NOTIFY_SMTP__SECURITY"),
        ({"smtp": {**SMTP, "sender": "nobody"}, **LINKS}, "COLDTRAIL_NOTIFY_SMTP__SENDER"),
        ({"quiet_hours": "9pm-8am"}, "COLDTRAIL_NOTIFY_QUIET_HOURS"),
        ({"shopper_timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_shopper_channel_settings_that_cannot_work_stop_start_up(
    overrides: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        settings(**overrides)
