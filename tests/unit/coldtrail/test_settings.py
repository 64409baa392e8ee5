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


def test_a_service_reads_the_mqtt_table_from_nested_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLDTRAIL_INGEST_MQTT__HOST", "broker.example")
    monkeypatch.setenv("coldtrail_ingest_mqtt__port", "8883")
    monkeypatch.setenv("COLDTRAIL_INGEST_MQTT__TLS", "true")
    monkeypatch.setenv("COLDTRAIL_INGEST_MQTT__PASSWORD", "s3cret")
    mqtt = settings.load(settings.IngestSettings).mqtt
    assert isinstance(mqtt, settings.MqttSettings)
    assert (mqtt.host, mqtt.port, mqtt.tls, mqtt.secret()) == (
        "broker.example",
        8883,
        True,
        "s3cret",
    )
    assert "s3cret" not in repr(settings.load(settings.IngestSettings))


def test_a_service_reads_the_mqtt_url_and_keys_given_beside_it_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLDTRAIL_API_MQTT__URL", "mqtts://api:p%40ss@broker.example:8884")
    monkeypatch.setenv("COLDTRAIL_API_MQTT__TOPIC_PREFIX", "t/api")
    mqtt = settings.load(settings.ApiSettings).mqtt
    assert mqtt is not None
    assert (mqtt.host, mqtt.port, mqtt.tls, mqtt.username) == ("broker.example", 8884, True, "api")
    assert (mqtt.secret(), mqtt.topic_prefix) == ("p@ss", "t/api")
    monkeypatch.delenv("COLDTRAIL_API_MQTT__URL")
    monkeypatch.delenv("COLDTRAIL_API_MQTT__TOPIC_PREFIX")
    assert settings.load(settings.ApiSettings).mqtt is None


def test_a_service_keeps_the_mqtt_settings_it_is_given() -> None:
    mqtt = settings.MqttSettings(host="broker.example", port=1884, password="pw")
    assert settings.IngestSettings(mqtt=mqtt).mqtt is mqtt
    assert settings.ApiSettings(mqtt=mqtt).mqtt is mqtt
    table = settings.IngestSettings(mqtt={"url": "mqtt://broker.example:1885"}).mqtt
    assert (table.host, table.port) == ("broker.example", 1885)
    assert settings.IngestSettings().mqtt == settings.MqttSettings()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "COLDTRAIL_INGEST_MQTT__PORT",
            "70000",
            r"COLDTRAIL_INGEST_MQTT__PORT: Expected `int` <= 65535",
        ),
        (
            "COLDTRAIL_INGEST_MQTT__PORT",
            "x",
            r"COLDTRAIL_INGEST_MQTT__PORT: Expected `int`, got `str`",
        ),
        ("COLDTRAIL_INGEST_MQTT__PROTOCOL", "4", r"MQTT__PROTOCOL: .*choose one of 3.1.1, 5"),
        ("COLDTRAIL_INGEST_MQTT__COLOUR", "red", r"COLDTRAIL_INGEST_MQTT__COLOUR: unknown setting"),
        ("COLDTRAIL_INGEST_MQTT__TOPIC_PREFIX", "a/+", r"MQTT__TOPIC_PREFIX: topic prefix"),
    ],
)
def test_a_service_refuses_a_bad_mqtt_value_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        settings.load(settings.IngestSettings)


def test_the_gateway_tables_are_checked_wherever_they_are_built() -> None:
    with pytest.raises(ValueError, match="sensors: a sensor MAC appears twice"):
        settings.GatewaySettings(
            sensors=[{"mac": "a4:c1:38:00:00:01"}, {"mac": "A4:C1:38:00:00:01"}]
        )
    with pytest.raises(ValueError, match=r"max_items"):
        settings.GatewaySettings(outbox={"max_items": 1})
    built = settings.GatewaySettings(outbox={"path": "/tmp/o.sqlite"}, mqtt={"port": 1884})
    assert (built.outbox.path, built.mqtt.port) == ("/tmp/o.sqlite", 1884)
    with pytest.raises(settings.FieldError, match=r"sensors\[0\]\.bindkey: a bindkey is 32"):
        settings.GatewaySettings.from_table(
            {"sensors": [{"mac": "A4:C1:38:00:00:01", "bindkey": "ab"}]}
        )


def test_secrets_never_show() -> None:
    sensor = settings.SensorSettings(mac="A4:C1:38:00:00:01", bindkey="ab" * 16)
    mqtt = settings.MqttSettings.from_url("mqtt://gw:pw-123@broker.example")
    for shown in (repr(sensor), str(sensor), repr(mqtt), str(mqtt.password)):
        assert "ab" * 16 not in shown and "pw-123" not in shown
    assert sensor.bindkey is not None and sensor.bindkey.get_secret_value() == "ab" * 16
    assert settings.MqttSettings(password="x") == settings.MqttSettings(password="x")
