"""The dashboard's own settings: where the other services' health and metrics are scraped, and
which consumer groups the operator view reports."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import PRODUCERS

DEFAULT_SERVICE_URLS = (
    "membership=http://127.0.0.1:8001,procurement=http://127.0.0.1:8002,"
    "catalogue=http://127.0.0.1:8003,outreach=http://127.0.0.1:8004"
)


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONSORTIO_", extra="ignore")

    service_urls: str = Field(
        DEFAULT_SERVICE_URLS,
        description=(
            "Comma-separated name=base-URL pairs of the services whose /health/ready and "
            "/metrics the operator view scrapes (an entry for the dashboard itself is ignored)."
        ),
    )
    lag_groups: str = Field(
        ",".join((*PRODUCERS, "dashboard")),
        description="Comma-separated consumer groups whose lag the operator view reports.",
    )
    scrape_timeout_s: float = Field(
        2.0, gt=0, description="Timeout of one health or metrics request, and of the lag query."
    )
    dead_letter_poll_s: float = Field(
        1.0, gt=0, description="How long the dead-letter reader waits for new records per poll."
    )

    session_secret: str = Field(
        "",
        description=(
            "Key that signs the operator view's session cookies (at least 32 random bytes; "
            "the same on every replica). Empty: each process makes its own at start."
        ),
    )

    def services(self, own_name: str = "dashboard") -> dict[str, str]:
        urls: dict[str, str] = {}
        for item in self.service_urls.split(","):
            name, separator, url = item.partition("=")
            name, url = name.strip(), url.strip().rstrip("/")
            if separator and name and url.startswith(("http://", "https://")) and name != own_name:
                urls[name] = url
        return urls

    def groups(self, own_group: str) -> list[str]:
        names = [name.strip() for name in self.lag_groups.split(",") if name.strip()]
        if own_group not in names:
            names.append(own_group)
        return names
