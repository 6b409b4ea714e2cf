"""Usage's own settings: harvesting pace and where provider secrets live."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UsageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONSORTIO_USAGE_", extra="ignore")

    secrets_dir: str = Field(
        "secrets",
        description="Directory of provider API keys named file:NAME in a provider's api_key_ref.",
    )
    harvest_interval_s: float = Field(2.0, gt=0, description="How often due harvests are run.")
    harvest_batch: int = Field(20, ge=1, description="Harvest jobs claimed per round.")
    harvest_lease_s: float = Field(
        120.0, gt=0, description="A running job not finished in this time is claimed again."
    )
    harvest_max_attempts: int = Field(5, ge=1, description="Attempts before a job fails.")
    harvest_retry_base_s: float = Field(
        30.0, ge=0, description="First retry delay after 1011 or an outage; doubles each time."
    )
    sushi_timeout_s: float = Field(30.0, gt=0, description="SUSHI request timeout.")
