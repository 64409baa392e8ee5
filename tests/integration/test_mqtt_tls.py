"""TLS and mutual TLS from the gateway's MQTT connection, whatever broker the suite runs:
a TLS-terminating relay (Python's ssl, certificates made here) in front of it."""

import asyncio
import datetime as dt
import gc
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from coldtrail.errors import ServiceUnavailable
from coldtrail.mqtt import MqttConnection
from coldtrail.settings import MqttSettings, parse_mqtt_url

pytestmark = pytest.mark.integration

# paho 2.2 leaks the socket of a failed TLS handshake (Client._ssl_wrap_socket does not close
# it when do_handshake() raises). The refusal tests collect it here, where it is expected.
PAHO_HANDSHAKE_LEAK = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    ip: str | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(
    path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None
) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca_key = _key()
    ca = _cert("coldtrail test CA", ca_key, None, ca=True)
    _write(tmp_path / "ca.pem", ca)
    server_key = _key()
    _write(
        tmp_path / "server.pem",
        _cert("broker", server_key, (ca, ca_key), ip="127.0.0.1"),
        server_key,
    )
    client_key = _key()
    _write(tmp_path / "gw-1.pem", _cert("gw-1", client_key, (ca, ca_key)), client_key)
    return tmp_path


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def tls_relay(pki: Path, mqtt_url: str) -> AsyncIterator[int]:
    """127.0.0.1:<port> speaking TLS, requiring a client certificate of the test CA."""
    broker = urlsplit(mqtt_url)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(broker.hostname, broker.port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_mutual_tls_publish_reaches_plain_subscribers(
    pki: Path, tls_relay: int, mqtt_url: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}/tls"
    secure = MqttSettings(
        host="127.0.0.1",
        port=tls_relay,
        tls=True,
        ca_file=str(pki / "ca.pem"),
        cert_file=str(pki / "gw-1.pem"),
        key_file=str(pki / "gw-1.key"),
    )
    plain = MqttSettings(**parse_mqtt_url(mqtt_url))
    async with MqttConnection(
        plain, f"sub-{uuid.uuid4().hex[:8]}", subscriptions=[(topic, 1)]
    ) as sub:
        await asyncio.wait_for(sub.connected.wait(), 10)
        await asyncio.sleep(0.2)
        gateway = MqttConnection(secure, f"gw-{uuid.uuid4().hex[:8]}")
        await gateway.start(wait_s=10)
        try:
            await asyncio.wait_for(gateway.publish(topic, b"over tls", qos=1), 10)
        finally:
            await gateway.close()
        message = await asyncio.wait_for(sub.next_message(), 10)
        assert message.payload == b"over tls"


@PAHO_HANDSHAKE_LEAK
async def test_without_its_client_certificate_the_gateway_is_refused(
    pki: Path, tls_relay: int
) -> None:
    no_cert = MqttSettings(host="127.0.0.1", port=tls_relay, tls=True, ca_file=str(pki / "ca.pem"))
    with pytest.raises(ServiceUnavailable, match="did not accept a connection"):
        await MqttConnection(no_cert, "gw-nocert").start(wait_s=3)
    gc.collect()


@PAHO_HANDSHAKE_LEAK
async def test_a_broker_certificate_from_another_ca_is_refused(
    pki: Path, tls_relay: int, tmp_path: Path
) -> None:
    other_key = _key()
    _write(tmp_path / "other-ca.pem", _cert("someone else", other_key, None, ca=True))
    wrong_ca = MqttSettings(
        host="127.0.0.1",
        port=tls_relay,
        tls=True,
        ca_file=str(tmp_path / "other-ca.pem"),
        cert_file=str(pki / "gw-1.pem"),
        key_file=str(pki / "gw-1.key"),
    )
    with pytest.raises(
        ServiceUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"
    ):
        await MqttConnection(wrong_ca, "gw-wrongca").start(wait_s=3)
    gc.collect()
