"""Ops users from COLDTRAIL_API_OPS_TOKENS, and the exception workflow's rules, without a server."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from api import workflow
from api.auth import OpsTokens, OpsUser
from api.errors import ApiError
from coldtrail import settings as config
from coldtrail.errors import ConfigError
from coldtrail.settings import ApiSettings, split_ops_token


def test_entries_are_name_role_token_or_a_bare_admin_token() -> None:
    assert split_ops_token("alice:agent:s3cret") == ("alice", "agent", "s3cret")
    assert split_ops_token("a.b@example.org:viewer:tok:with:colons") == (
        "a.b@example.org",
        "viewer",
        "tok:with:colons",
    )
    assert split_ops_token("bare-token") == ("ops", "admin", "bare-token")
    assert split_ops_token("") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("alice:boss:s3cret", "entry 0 has a ':' but is not name:role:token"),
        ("alice:admin:", "entry 0 has a ':' but is not name:role:token"),
        ("s3cret:with-colon", "entry 0 has a ':' but is not name:role:token"),
        ("two words:admin:s3cret", "entry 0: the user name must be 1-64"),
        ("system:admin:s3cret", "entry 0: the user name 'system' is reserved"),
    ],
)
def test_a_bad_entry_stops_start_up_without_showing_the_secret(
    entry: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLDTRAIL_API_OPS_TOKENS", f'["{entry}"]')
    with pytest.raises(ConfigError) as caught:
        config.load(ApiSettings)
    assert "COLDTRAIL_API_OPS_TOKENS" in str(caught.value)
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_token_given_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_API_OPS_TOKENS", '["a:admin:same-token", "b:viewer:same-token"]')
    with pytest.raises(ConfigError, match="entry 1 repeats the token of an earlier entry"):
        config.load(ApiSettings)


def test_a_token_identifies_its_user() -> None:
    tokens = OpsTokens(
        [SecretStr("alice:admin:ta"), SecretStr("bob:agent:tb"), SecretStr(""), SecretStr("bare")]
    )
    assert tokens.identify("ta") == OpsUser("alice", "admin")
    assert tokens.identify("tb") == OpsUser("bob", "agent")
    assert tokens.identify("bare") == OpsUser("ops", "admin")
    for wrong in ("", "alice:admin:ta", "t", "TA"):
        assert tokens.identify(wrong) is None


def test_roles_include_the_ones_below() -> None:
    viewer, agent, admin = (OpsUser("x", r) for r in ("viewer", "agent", "admin"))
    assert viewer.has("viewer") and not viewer.has("agent") and not viewer.has("admin")
    assert agent.has("viewer") and agent.has("agent") and not agent.has("admin")
    assert admin.has("viewer") and admin.has("agent") and admin.has("admin")


STATES = ("open", "acknowledged", "investigating", "resolved")
ALLOWED = {
    ("open", "acknowledged"),
    ("acknowledged", "investigating"),
    ("open", "resolved"),
    ("acknowledged", "resolved"),
    ("investigating", "resolved"),
}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("to", STATES[1:])
def test_the_transition_table(state: str, to: str) -> None:
    current = workflow.Current(7, state, "destroyed" if state == "resolved" else None, None)  # type: ignore[arg-type]
    if (state, to) in ALLOWED:
        change = workflow.transition(current, to, "why", "refunded")  # type: ignore[arg-type]
        assert (change.action, change.state, change.reason) == (to, to, "why")
        assert change.detail["from"] == state and change.detail["to"] == to
        return
    with pytest.raises(ApiError) as caught:
        workflow.transition(current, to, "why", "refunded")  # type: ignore[arg-type]
    assert caught.value.status_code == 409
    expected = "exception_resolved" if state == "resolved" else "invalid_transition"
    assert caught.value.code == expected


def test_resolving_needs_a_resolution_and_a_reason() -> None:
    current = workflow.Current(7, "open", None, None)
    for resolution, reason in ((None, "why"), ("refunded", None), ("refunded", "")):
        with pytest.raises(ApiError) as caught:
            workflow.transition(current, "resolved", reason, resolution)  # type: ignore[arg-type]
        assert caught.value.status_code == 422


def test_assigning_the_same_person_again_changes_nothing() -> None:
    current = workflow.Current(7, "acknowledged", None, "bob")
    assert workflow.assign(current, "bob", None) is None
    change = workflow.assign(current, None, "off shift")
    assert change is not None
    assert (change.detail, change.sets_assignee, change.assignee) == (
        {"from": "bob", "to": None},
        True,
        None,
    )
