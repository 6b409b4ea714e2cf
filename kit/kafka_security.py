"""How clients authenticate to Kafka and encrypt the connection, from ``KafkaSettings``.

Two shapes of the same decision: FastStream's broker takes a ``BaseSecurity`` object, while
raw aiokafka clients (the outbox relay's producer, the admin client, the dead-letter tools)
take keyword arguments. Both come from here, so a subscriber and the relay of one service can
never disagree about how to reach the brokers.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from kit.settings import KafkaSettings

_SASL_CLASSES: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


def ssl_context(s: KafkaSettings) -> ssl.SSLContext | None:
    """A verifying TLS context for SSL and SASL_SSL, else None.

    Without ``ssl_cafile`` the system's CA store is used. The broker's host name is always
    checked: a certificate must name the address in ``bootstrap_servers``.
    """
    if s.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.ssl_cafile or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if s.ssl_certfile:
        context.load_cert_chain(s.ssl_certfile, s.ssl_keyfile or None)
    elif s.ssl_keyfile:
        raise ValueError("KONSORTIO_KAFKA_SSL_KEYFILE is set without KONSORTIO_KAFKA_SSL_CERTFILE")
    return context


def _credentials(s: KafkaSettings) -> tuple[str, str]:
    if not s.sasl_username:
        raise ValueError(
            f"KONSORTIO_KAFKA_SECURITY_PROTOCOL={s.security_protocol} needs "
            "KONSORTIO_KAFKA_SASL_USERNAME and KONSORTIO_KAFKA_SASL_PASSWORD"
        )
    return s.sasl_username, s.sasl_password.get_secret_value()


def faststream_security(s: KafkaSettings) -> BaseSecurity | None:
    """The ``security=`` argument of FastStream's ``KafkaBroker``; None for PLAINTEXT."""
    if s.security_protocol == "PLAINTEXT":
        return None
    context = ssl_context(s)
    if s.security_protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    username, password = _credentials(s)
    return _SASL_CLASSES[s.sasl_mechanism](
        username, password, ssl_context=context, use_ssl=context is not None
    )


def aiokafka_client_kwargs(s: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    if s.security_protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": s.security_protocol}
    context = ssl_context(s)
    if context is not None:
        kwargs["ssl_context"] = context
    if s.security_protocol.startswith("SASL_"):
        username, password = _credentials(s)
        kwargs |= {
            "sasl_mechanism": s.sasl_mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    return kwargs
