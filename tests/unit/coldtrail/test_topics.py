import pytest

from coldtrail import topics


def test_topics_are_built_in_one_shape() -> None:
    assert topics.telemetry("gw-van-1") == "coldtrail/v1/gw-van-1/telemetry"
    assert topics.status("gw-van-1", "acme/eu") == "acme/eu/v1/gw-van-1/status"
    assert topics.deadletter("g") == "coldtrail/v1/g/deadletter"
    assert topics.cmd("g") == "coldtrail/v1/g/cmd"


def test_subscriptions_and_shared_subscriptions() -> None:
    assert topics.subscription("telemetry") == "coldtrail/v1/+/telemetry"
    assert (
        topics.subscription("telemetry", share="ingest") == "$share/ingest/coldtrail/v1/+/telemetry"
    )


def test_parse_is_the_inverse_of_topic() -> None:
    parsed = topics.parse(topics.telemetry("gw-1", "cttest/abc"))
    assert parsed == topics.ParsedTopic("cttest/abc", 1, "gw-1", "telemetry")


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "gw 1", "-x", "x" * 65])
def test_gateway_ids_that_cannot_be_a_topic_level(bad: str) -> None:
    with pytest.raises(ValueError, match="gateway id"):
        topics.telemetry(bad)


@pytest.mark.parametrize(
    "bad", ["coldtrail/v1/gw", "coldtrail/x1/gw/telemetry", "coldtrail/v1/gw/other", "v1/a/b/c/d"]
)
def test_parse_refuses_foreign_topics(bad: str) -> None:
    with pytest.raises(ValueError):
        topics.parse(bad)
