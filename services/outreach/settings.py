"""Outreach's own settings: where mail goes and where marketing kits are kept."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class OutreachSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONSORTIO_", extra="ignore")

    smtp_host: str = Field("127.0.0.1", description="SMTP server for outgoing mail.")
    smtp_port: int = Field(8025, description="SMTP port (587 with STARTTLS in production).")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_ca_file: str = Field(
        "", description="CA bundle for the SMTP server's certificate; empty: the system's."
    )
    smtp_username: str = Field("", description="SMTP user; empty for no authentication.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    smtp_sender: str = Field(
        "Konsortio <noreply@konsortio.localhost>", description="From: of every message."
    )
    smtp_timeout_s: float = Field(10.0, gt=0, description="SMTP connect and command timeout.")
    smtp_sink_dir: str = Field(
        "",
        description=(
            "Development only: directory of the local SMTP sink's received messages, listed "
            "at GET /dev/mailbox. Empty in production (the route then answers 404)."
        ),
    )
    mail_batch_size: int = Field(100, ge=1, description="Messages sent per sender round.")
    mail_interval_s: float = Field(0.5, gt=0, description="Sender poll interval.")
    mail_connections: int = Field(
        4, ge=1, le=32, description="SMTP connections a replica sends on at once."
    )
    mail_retry_base_s: float = Field(
        2.0, gt=0, description="First retry delay after a temporary SMTP failure; doubles."
    )
    mail_retry_max_s: float = Field(
        300.0, gt=0, description="Longest retry delay; a message is retried until it is sent."
    )
    mail_attachment_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=0,
        description="Kit files are attached up to this total per message; the rest are links.",
    )
    kit_storage_dir: str = Field(
        "data/kits",
        description=(
            "Directory of marketing-kit files (content-addressed by SHA-256). Every replica "
            "must see the same directory."
        ),
    )
    kit_max_file_bytes: int = Field(
        25 * 1024 * 1024, ge=1, description="Largest marketing-kit file accepted for upload."
    )
    campaign_batch_size: int = Field(
        500, ge=1, description="Recipients turned into queued messages per campaign batch."
    )
    coordinator_email: str = Field(
        "",
        description=(
            "The consortium coordinator's address: cancellation-deadline reminders go here as "
            "well as to the participating libraries. Empty: only the libraries are mailed."
        ),
    )
    coordinator_language: Literal["fi", "sv"] = Field(
        "fi", description="Language of the mail to the coordinator's address."
    )
    usage_digest_quiet_s: float = Field(
        3600.0,
        ge=0,
        description=(
            "A library's monthly usage digest for a closed month goes out once its figures "
            "have not changed for this long, so that every agreement's figures and their "
            "corrections (which arrive as separate events) go into its one digest."
        ),
    )
