"""Catalogue's own settings: uploads, OAI-PMH identity and the Melinda adapter."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CatalogueSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONSORTIO_", extra="ignore")

    catalogue_upload_max_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="Largest title-list upload accepted (bytes)."
    )
    catalogue_spool_dir: str = Field(
        "",
        description=(
            "Directory where uploads are spooled while they are ingested; empty means the "
            "system temporary directory. Spooled files are removed when the batch ends."
        ),
    )
    catalogue_chunk_size: int = Field(
        500, ge=1, le=10_000, description="Records read, resolved and written per database round."
    )
    catalogue_full_load_max_rejected_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description=(
            "A full load whose share of rejected records is above this (0.5 = 50 %) is refused "
            "as a whole, withdrawing nothing, unless a coordinator forces it."
        ),
    )
    catalogue_full_load_max_withdrawn_share: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description=(
            "A full load that would withdraw more than this share of the collection's titles "
            "(0.2 = 20 %) is refused as a whole unless a coordinator forces it: a file cut at "
            "a record boundary reads as a complete, shorter list. 1.0 turns the check off."
        ),
    )
    catalogue_full_load_withdrawal_check_from: int = Field(
        100,
        ge=0,
        description=(
            "Collections with fewer active titles than this are not held to the withdrawal "
            "share (a handful of titles is a large share of a small collection)."
        ),
    )
    catalogue_agency_isil: str = Field(
        "FI-KONS",
        description=(
            "The consortium's ISIL: prefix of its record ids in Melinda (035 $a), and the "
            "agency of converted records (040 $a/$d, 884 $q)."
        ),
    )
    oai_repository_name: str = Field(
        "Konsortio e-material records", description="OAI-PMH Identify repositoryName."
    )
    oai_namespace: str = Field(
        "konsortio.fi",
        description="Namespace part of OAI identifiers (oai:<namespace>:<local id>).",
    )
    oai_admin_email: str = Field(
        "metadata@konsortio.example", description="OAI-PMH Identify adminEmail."
    )
    oai_token_key: SecretStr = Field(
        SecretStr(""),
        description=(
            "Key that signs OAI-PMH resumption tokens (HMAC-SHA256), the same on every replica; "
            "empty: each process makes its own, so a token works only on the replica that "
            "issued it."
        ),
    )
    oai_page_size: int = Field(
        100, ge=1, le=1000, description="Records per OAI-PMH list response page."
    )
    melinda_url: str = Field(
        "",
        description=(
            "Base URL of Melinda's REST API for library systems (…/bib/). Empty: the adapter "
            "is not configured, and Melinda jobs are refused; the MARCXML export still works."
        ),
    )
    melinda_username: str = Field("", description="Melinda REST API user name.")
    melinda_password: SecretStr = Field(SecretStr(""), description="Melinda REST API password.")
    melinda_library: str = Field(
        "KONS", description="Melinda LOW tag (pActiveLibrary) the consortium submits as."
    )
    melinda_sid_code: str = Field(
        "konso",
        pattern=r"^[a-z0-9]{1,10}$",
        description=(
            "The consortium's source system code in Melinda, SID $b (with $c the record's own "
            "id), as agreed with the National Library; Melinda links a record to its source "
            "system's copy by it. The default is a placeholder until that agreement."
        ),
    )
    melinda_timeout_s: float = Field(30.0, gt=0, description="Timeout of one Melinda request.")
    melinda_poll_interval_s: float = Field(
        2.0, gt=0, description="How often a bulk job's state is polled while Melinda works."
    )
    melinda_lease_s: float = Field(
        60.0,
        gt=0,
        description=(
            "A running Melinda job is leased for this long and renewed while it works; a job "
            "whose lease ran out (its process died) is resumed by any replica."
        ),
    )
