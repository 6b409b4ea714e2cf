"""What outreach's handlers, jobs and commands need besides a database connection. Built once
in the composition root (``app.py``) and handed to the handlers as ``delivery.deps``."""

from __future__ import annotations

from dataclasses import dataclass

from services.outreach.domain import KitFile, Renderer


@dataclass(frozen=True)
class OutreachDeps:
    renderer: Renderer
    mail_domain: str
    base_url: str = "http://127.0.0.1:8004"
    attachment_max_bytes: int = 10 * 1024 * 1024
    coordinator_email: str = ""
    coordinator_language: str = "fi"
    usage_digest_quiet_s: float = 3600.0

    def file_url(self, file: KitFile) -> str:
        return f"{self.base_url}/kits/{file.kit_id}/files/{file.id}"

    @property
    def kits_url(self) -> str:
        return f"{self.base_url}/kits"

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/feed.atom"
