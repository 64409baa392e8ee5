"""Ops token matching and the access-log redaction, without a server."""

from __future__ import annotations

import hashlib
import logging

from pydantic import SecretStr

from api.auth import OpsTokens, new_access_token
from api.cli import RedactTokens


def test_ops_tokens_match_exactly_and_ignore_empty_ones() -> None:
    tokens = OpsTokens([SecretStr("alpha-token"), SecretStr(""), SecretStr("béta")])
    assert tokens.configured
    assert tokens.accepts("alpha-token")
    assert tokens.accepts("béta")
    for wrong in ("", "alpha", "alpha-token ", "ALPHA-TOKEN"):
        assert not tokens.accepts(wrong)
    assert not OpsTokens([]).configured
    assert not OpsTokens([SecretStr("")]).configured


def test_access_tokens_are_random_and_only_their_digest_is_kept() -> None:
    (token1, digest1), (token2, _) = new_access_token(), new_access_token()
    assert token1 != token2
    assert len(token1) >= 22
    assert digest1 == hashlib.sha256(token1.encode()).digest()


def test_the_access_log_never_shows_a_token() -> None:
    path = "/v1/shipments/TN-1/timeline?limit=5&token=s3cr3t&x=1"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert "token=***&x=1" in record.getMessage()


def test_the_access_log_never_shows_an_unsubscribe_link() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/u/12.s1gnatur3", "1.1", 200), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "s1gnatur3" not in record.getMessage() and "/u/***" in record.getMessage()
