"""Each carrier's base URL and key are settings named after the registry
(``COLDTRAIL_CARRIER_<NAME>_URL`` / ``_KEY``); a URL that is not http(s) stops start-up."""

from __future__ import annotations

import pytest

from carriers.registry import CARRIERS
from carriers.settings import endpoints
from coldtrail.errors import ConfigError


def test_defaults_are_the_public_apis_and_the_environment_overrides() -> None:
    ends = endpoints({})
    assert set(ends) == set(CARRIERS)
    assert ends["colissimo"].url == "https://api.laposte.fr/suivi/v2"
    assert all(e.key is None for e in ends.values())
    ends = endpoints(
        {
            "COLDTRAIL_CARRIER_MONDIALRELAY_URL": "http://127.0.0.1:9/mondialrelay",
            "COLDTRAIL_CARRIER_MONDIALRELAY_KEY": "BDTEST13:PrivateK",
        }
    )
    assert ends["mondialrelay"].url == "http://127.0.0.1:9/mondialrelay"
    key = ends["mondialrelay"].key
    assert key is not None and key.get_secret_value() == "BDTEST13:PrivateK"
    assert "PrivateK" not in repr(ends["mondialrelay"])


def test_a_bad_url_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="COLDTRAIL_CARRIER_DHL_URL must be an http"):
        endpoints({"COLDTRAIL_CARRIER_DHL_URL": "ftp://example"})


def test_push_secrets_of_ups_and_dhl() -> None:
    from carriers.settings import PUSH_CARRIERS, push_secrets

    assert set(PUSH_CARRIERS) == {"ups", "dhl"} and set(PUSH_CARRIERS) <= set(CARRIERS)
    assert push_secrets({}) == {}
    secrets = push_secrets({"COLDTRAIL_CARRIER_DHL_PUSH_SECRET": "d" * 16})
    assert secrets == {"dhl": "d" * 16}
    with pytest.raises(ConfigError, match="COLDTRAIL_CARRIER_DHL_PUSH_SECRET must be at least 16"):
        push_secrets({"COLDTRAIL_CARRIER_DHL_PUSH_SECRET": "short"})
