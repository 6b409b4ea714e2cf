"""The session's running dashboard (shared with the browser tests, see support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Infra
from tests.integration.dashboard.support import DashboardUnderTest, shared_dashboard


@pytest.fixture(scope="session")
async def dashboard(
    request: pytest.FixtureRequest, infra: Infra
) -> AsyncIterator[DashboardUnderTest]:
    async for running_dashboard in shared_dashboard(request, infra):
        yield running_dashboard
