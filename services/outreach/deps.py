"""What outreach's routes, handlers, jobs and commands need besides a database connection.
Built once by the spec's dependencies factory in ``app.py``; routes take it as ``Deps``,
handlers as ``delivery.deps``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends

from kit.app import provided
from kit.clock import Clock, SystemClock
from services.outreach.domain import KitFile, Renderer
from services.outreach.settings import OutreachSettings
from services.outreach.storage import KitStorage

# Called with a campaign's id and the number of batches materialised so far.
AfterBatch = Callable[[uuid.UUID, int], Awaitable[None]]


@dataclass(frozen=True)
class OutreachDeps:
    renderer: Renderer
    mail_domain: str
    settings: OutreachSettings = field(default_factory=OutreachSettings)
    storage: KitStorage | None = None
    clock: Clock = field(default_factory=SystemClock)
    base_url: str = "http://127.0.0.1:8004"
    # Called after each batch of a campaign send: the seam where a test crashes a send midway.
    after_campaign_batch: AfterBatch | None = None

    @property
    def attachment_max_bytes(self) -> int:
        return self.settings.mail_attachment_max_bytes

    @property
    def coordinator_email(self) -> str:
        return self.settings.coordinator_email

    @property
    def coordinator_language(self) -> str:
        return self.settings.coordinator_language

    @property
    def usage_digest_quiet_s(self) -> float:
        return self.settings.usage_digest_quiet_s

    def file_url(self, file: KitFile) -> str:
        return f"{self.base_url}/kits/{file.kit_id}/files/{file.id}"

    @property
    def kits_url(self) -> str:
        return f"{self.base_url}/kits"

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/feed.atom"


#: A route parameter of this type receives outreach's dependencies.
Deps = Annotated[OutreachDeps, Depends(provided(OutreachDeps))]
