"""Limits on the public, unauthenticated endpoints (the dashboard's live stream, the Atom
feed): a moving-window rate per client address, and a cap on open streaming connections.

The counting is the ``limits`` library's (moving window, in memory): each replica limits on
its own, which bounds what one client can make one replica do. The client is the TCP peer:
behind a reverse proxy, run uvicorn with ``--forwarded-allow-ips`` naming the proxy so that
the peer is the real client, not the proxy."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from kit.errors import ApiError


class PublicLimits:
    """``per_minute`` requests per client per ``scope``; at most ``max_connections`` streams."""

    def __init__(self, per_minute: int, max_connections: int) -> None:
        self.rate = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.max_connections = max_connections
        self.open_connections = 0

    def check(self, request: Request, scope: str) -> None:
        """Count one request of this client; raise 429 with Retry-After when over the rate."""
        client = request.client.host if request.client else "unknown"
        if self.limiter.hit(self.rate, scope, client):
            return
        reset_at = self.limiter.get_window_stats(self.rate, scope, client).reset_time
        wait = max(1, math.ceil(reset_at - time.time()))
        raise ApiError(
            429,
            f"too many requests to {scope} from this client: at most {self.rate.amount} a "
            f"minute; try again in {wait} s",
            retry_after=wait,
        )

    def admit_stream(self) -> None:
        """Raise 503 with Retry-After when all the stream slots are taken."""
        if self.open_connections >= self.max_connections:
            raise ApiError(
                503,
                f"the live stream is full ({self.max_connections} connections); try again later",
                retry_after=30,
            )

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Hold one stream slot while the body is being streamed."""
        self.open_connections += 1
        try:
            yield
        finally:
            self.open_connections -= 1
