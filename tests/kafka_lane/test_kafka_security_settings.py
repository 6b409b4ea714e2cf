"""kit.kafka_security without a broker: every protocol maps to the same client options in
FastStream's shape and in raw aiokafka's shape. (The lane's tests prove them on a real broker.)"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from kit.kafka_security import aiokafka_client_kwargs, faststream_security
from kit.settings import KafkaSettings


def kafka(**values: object) -> KafkaSettings:
    return KafkaSettings(**values)  # type: ignore[arg-type]  # loose or wrong test data on purpose; checked at run time


@pytest.fixture(scope="module")
def client_identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "konsortio-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "client.pem", directory / "client.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_plaintext_needs_nothing() -> None:
    assert faststream_security(kafka()) is None
    assert aiokafka_client_kwargs(kafka()) == {}


@pytest.mark.parametrize(
    ("mechanism", "cls"),
    [("SCRAM-SHA-512", SASLScram512), ("SCRAM-SHA-256", SASLScram256), ("PLAIN", SASLPlaintext)],
)
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl(mechanism: str, cls: type, protocol: str) -> None:
    s = kafka(
        security_protocol=protocol, sasl_mechanism=mechanism, sasl_username="u", sasl_password="p"
    )
    security = faststream_security(s)
    assert type(security) is cls
    assert (security.username, security.password) == ("u", "p")
    assert security.use_ssl is (protocol == "SASL_SSL")
    kwargs = aiokafka_client_kwargs(s)
    assert kwargs["security_protocol"] == protocol
    assert kwargs["sasl_mechanism"] == mechanism
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("u", "p")
    assert ("ssl_context" in kwargs) is (protocol == "SASL_SSL")


@pytest.mark.parametrize(
    "values",
    [
        {"security_protocol": "SSL"},
        {"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": "p"},
        {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": "p"},
    ],
)
def test_both_shapes_agree(values: dict[str, object]) -> None:
    s = kafka(**values)
    via_faststream = parse_security(faststream_security(s))
    direct = aiokafka_client_kwargs(s)
    drop = "ssl_context"
    assert {k: v for k, v in via_faststream.items() if k != drop and v is not None} == {
        k: v for k, v in direct.items() if k != drop
    }
    assert (via_faststream.get("ssl_context") is None) == (direct.get("ssl_context") is None)


def test_tls_verifies_the_broker_and_its_name() -> None:
    security = faststream_security(kafka(security_protocol="SSL"))
    assert type(security) is BaseSecurity and security.use_ssl
    context = security.ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_mutual_tls_loads_the_client_identity(client_identity: tuple[Path, Path]) -> None:
    cert, key = client_identity
    s = kafka(security_protocol="SSL", ssl_certfile=str(cert), ssl_keyfile=str(key))
    assert isinstance(aiokafka_client_kwargs(s)["ssl_context"], ssl.SSLContext)
    with pytest.raises(ValueError, match="SSL_CERTFILE"):
        aiokafka_client_kwargs(kafka(security_protocol="SSL", ssl_keyfile=str(key)))


def test_a_missing_ca_file_fails_at_startup() -> None:
    with pytest.raises(FileNotFoundError):
        faststream_security(kafka(security_protocol="SSL", ssl_cafile="/nonexistent/ca.pem"))


def test_sasl_without_credentials_is_refused_early() -> None:
    with pytest.raises(ValueError, match="SASL_USERNAME"):
        faststream_security(kafka(security_protocol="SASL_SSL"))
