"""The demo's mail catcher (simulators/mailcatcher.py): a real SMTP conversation with the
notification dispatcher's own channel code (apprise's mailto plugin, the shopper template with
the contact filled in) ends as an .eml file in the folder and an entry in the list."""

from __future__ import annotations

import asyncio
from email import policy
from email.parser import BytesParser
from pathlib import Path

import apprise
import pytest
from pydantic import SecretStr

from alerts.io.notify_channels import Channel
from simulators.mailcatcher import DEMO_SENDER, MailCatcher

pytestmark = pytest.mark.integration


def read(path: str) -> bytes:
    return Path(path).read_bytes()


async def test_a_shopper_email_sent_through_the_template_is_caught(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path / "mail")
    port = await catcher.start()
    try:
        assert port > 0
        channel = Channel("shopper-1", "shopper", "demo", SecretStr(catcher.shopper_url_template()))
        sender = apprise.Apprise()
        assert sender.add(channel.target("camille+demo@example.com"))
        sent = await asyncio.to_thread(
            sender.notify, title="Votre colis est en route", body="Bonjour Camille"
        )
        assert sent
    finally:
        await catcher.stop()
    [mail] = catcher.messages
    assert mail.to == ["camille+demo@example.com"]
    assert mail.sender == DEMO_SENDER
    assert mail.subject == "Votre colis est en route"
    saved = BytesParser(policy=policy.default).parsebytes(read(mail.file))
    assert saved["To"] == "camille+demo@example.com"
    assert "Bonjour Camille" in saved.get_body(("plain", "html")).get_content()  # type: ignore[union-attr]
    assert [p.name for p in (tmp_path / "mail").iterdir()] == [Path(mail.file).name]
