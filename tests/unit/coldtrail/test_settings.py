import pytest

from coldtrail import settings
from coldtrail.errors import ConfigError


def test_mqtt_url_fills_the_fields_and_hides_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_MQTT__URL", "mqtts://gw-1:s%40cret@broker.example:8884")
    loaded = settings.load(settings.GatewaySettings)
    assert (loaded.mqtt.host, loaded.mqtt.port, loaded.mqtt.tls) == ("broker.example", 8884, True)
    assert loaded.mqtt.username == "gw-1"
    assert loaded.mqtt.password is not None
    assert loaded.mqtt.password.get_secret_value() == "s@cret"
    assert "s@cret" not in repr(loaded) and "s@cret" not in loaded.mqtt.url()


def test_invalid_config_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_INGEST_BATCH_MAX_ROWS", "zero")
    with pytest.raises(ConfigError, match="COLDTRAIL_INGEST_BATCH_MAX_ROWS"):
        settings.load(settings.IngestSettings)


def test_bad_gateway_id_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_GATEWAY_GATEWAY_ID", "van/1")
    with pytest.raises(ConfigError, match="COLDTRAIL_GATEWAY_GATEWAY_ID"):
        settings.load(settings.GatewaySettings)


def test_database_url_is_honoured_unless_the_service_sets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a/b")
    assert settings.load(settings.ApiSettings).database.url.get_secret_value() == "postgresql://a/b"
    monkeypatch.setenv("COLDTRAIL_API_DATABASE__URL", "postgresql://c/d")
    assert settings.load(settings.ApiSettings).database.url.get_secret_value() == "postgresql://c/d"


def test_unknown_mqtt_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLDTRAIL_INGEST_MQTT__URL", "http://broker")
    with pytest.raises(ConfigError, match="mqtt://"):
        settings.load(settings.IngestSettings)


def test_a_malformed_database_url_is_refused_without_repeating_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:S3C%zzRET@127.0.0.1:5432/db")
    with pytest.raises(ConfigError, match="percent-encode") as info:
        settings.load(settings.IngestSettings)
    assert "S3C" not in str(info.value)


def test_the_database_password_is_masked_in_driver_messages() -> None:
    database = settings.DatabaseSettings(url="postgresql://u:p%40ss@db:5432/x")  # type: ignore[arg-type]
    assert database.redact('password "p@ss" and "p%40ss" rejected') == (
        'password "***" and "***" rejected'
    )
    assert settings.DatabaseSettings().redact("no password here") == "no password here"
