"""Settings for every service, from the environment only (prefix ``KONSORTIO_``).

Each field's description is the documentation: ``konsortio settings`` prints them all, and the
README's operator section is generated from the same list.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONSORTIO_KAFKA_", extra="ignore")

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    idempotence: bool = Field(
        False,
        description=(
            "Idempotent producer. Turn on for Apache Kafka; the embedded Tansu broker "
            "does not implement InitProducerId, so it must stay off there."
        ),
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to reach the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    sasl_username: str = Field("", description="SASL user name.")
    sasl_password: SecretStr = Field(SecretStr(""), description="SASL password.")
    ssl_cafile: str = Field("", description="CA bundle that signs the brokers' certificates.")
    ssl_certfile: str = Field("", description="Client certificate for mutual TLS (optional).")
    ssl_keyfile: str = Field("", description="Client key for mutual TLS (optional).")
    topic_partitions: int = Field(
        3, ge=1, description="Partitions for topics a service creates when they are missing."
    )
    replication_factor: int = Field(
        1, ge=1, description="Replication factor for topics a service creates."
    )


class Settings(BaseSettings):
    """Settings shared by every service."""

    model_config = SettingsConfigDict(env_prefix="KONSORTIO_", extra="ignore")

    service: str = Field("membership", description="Which service this process runs.")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/konsortio",
        description=(
            "PostgreSQL DSN of this service's own database. TLS is set in the DSN, "
            "for example ?sslmode=verify-full&sslrootcert=/etc/ssl/pg-ca.pem."
        ),
    )
    database_pool_max: int = Field(10, ge=1, description="Largest size of the asyncpg pool.")
    http_host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    http_port: int = Field(8001, description="Port of the HTTP API.")
    public_url: str = Field(
        "", description="Externally visible base URL (used in feeds and OAI-PMH responses)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest log level written."
    )
    jwt_public_key: str = Field(
        "", description="PEM of the Ed25519 public key that verifies bearer tokens."
    )
    jwt_public_key_file: str = Field(
        "", description="Path to that PEM, when it is mounted as a file instead."
    )
    jwt_issuer: str = Field("konsortio", description="Required `iss` claim of bearer tokens.")
    relay_poll_interval_s: float = Field(
        1.0, gt=0, description="Outbox relay fallback poll interval when no NOTIFY arrives."
    )
    relay_batch_size: int = Field(500, ge=1, description="Outbox rows published per batch.")
    consumer_max_attempts: int = Field(
        5, ge=1, description="Attempts on a transient error before a message is dead-lettered."
    )
    consumer_backoff_base_s: float = Field(
        0.2, ge=0, description="First retry delay; it doubles on each further attempt."
    )
    consumer_backoff_max_s: float = Field(5.0, ge=0, description="Longest retry delay.")
    consumer_fetch_max_wait_ms: int = Field(
        500,
        ge=0,
        description=(
            "Longest the broker may hold a consumer's fetch that finds nothing new. Apache "
            "Kafka answers as soon as records arrive, so the default costs nothing there; the "
            "embedded Tansu broker holds the fetch for the whole wait, which then adds up to "
            "this much to every event's delivery: 10-20 ms there for low latency, at the cost "
            "of more idle fetches."
        ),
    )
    consumer_batch_max_records: int = Field(
        100,
        ge=1,
        description=(
            "Most records a consumer handles in one transaction with one inbox claim and one "
            "offset commit. A poll returns as soon as any record is there, so this costs no "
            "latency; it is what lets a consumer re-read its topics (a replay, or catching up "
            "after an outage) at thousands of records a second instead of hundreds. A batch "
            "that fails is handled again record by record, so one bad record never holds back "
            "or dead-letters its neighbours. 1 handles every record in its own transaction."
        ),
    )
    consumer_group: str = Field(
        "", description="Kafka consumer group; empty means the service name (the normal case)."
    )
    consumer_session_timeout_ms: int = Field(
        6000,
        ge=1000,
        description=(
            "How long the group waits for a silent member (one killed, or frozen) before its "
            "partitions go to the others: the bound on how long events wait after a crash. "
            "Apache Kafka refuses values below its group.min.session.timeout.ms (6000 by "
            "default); the embedded Tansu broker honours it too. A longer value tolerates "
            "longer event-loop stalls without a needless rebalance."
        ),
    )
    consumer_heartbeat_interval_ms: int = Field(
        2000,
        ge=100,
        description=(
            "How often a consumer tells the group it is alive; a third of the session "
            "timeout or less."
        ),
    )
    consumer_group_instance_id: str = Field(
        "",
        description=(
            "Static group membership (group.instance.id): a name stable across restarts and "
            "unique per replica, such as the pod's name. A replica restarted within the "
            "session timeout gets its partitions back without a rebalance; one stopped for "
            "good keeps them until the session times out, since a static member does not "
            "leave the group. Empty (the default) is dynamic membership, which leaves the "
            "group on a graceful shutdown so its partitions move at once."
        ),
    )
    consumer_extra_sources: list[str] = Field(
        default_factory=list,
        description=(
            "CloudEvents sources accepted besides the producing service's own "
            "(/konsortio/<service>); an event from any other source is dead-lettered as "
            "ForeignEvent. Empty in production; the test suite adds its injector's /tests."
        ),
    )
    scheduler_interval_s: float = Field(
        5.0, gt=0, description="How often scheduled effects (dated notices, expiries) are due."
    )
    public_rate_per_minute: int = Field(
        60,
        ge=1,
        description=(
            "Requests a minute one client address may make to a public endpoint (the live "
            "stream, the Atom feed); more get 429 with Retry-After."
        ),
    )
    stream_max_connections: int = Field(
        200,
        ge=1,
        description="Open live-stream (SSE) connections one replica serves; more get 503.",
    )
    api_docs: bool = Field(
        True,
        description=(
            "Serve /docs, /redoc and /openapi.json. Off in production when the API's shape "
            "should not be public; the exported specs in docs/ stay the reference."
        ),
    )
    metrics_require_operator: bool = Field(
        False,
        description=(
            "Serve /metrics only to an operator-role bearer token (Prometheus sends it with "
            "`authorization.credentials_file`). The embedded stack leaves it open; set it to "
            "true in production unless the port is reachable only by the scraper."
        ),
    )
    token_max_hours: float = Field(
        720,
        gt=0,
        description=(
            "Longest lifetime `konsortio token issue` gives a token (default 30 days); read by "
            "the CLI from KONSORTIO_TOKEN_MAX_HOURS."
        ),
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @model_validator(mode="after")
    def _heartbeat_within_session(self) -> Settings:
        # The broker expects several heartbeats per session; one late beat must not end it.
        if self.consumer_heartbeat_interval_ms * 3 > self.consumer_session_timeout_ms:
            raise ValueError(
                "consumer_heartbeat_interval_ms must be at most a third of "
                "consumer_session_timeout_ms"
            )
        return self


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides for tests and the launcher."""
    return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the overrides at run time
