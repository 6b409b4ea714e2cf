"""The broadcaster's per-browser queues: a slow browser is cut off, never the feed."""

from __future__ import annotations

from services.dashboard.live import Subscription


async def test_a_subscription_delivers_in_order_and_ends_on_close() -> None:
    subscription = Subscription(size=3)
    assert subscription.offer({"seq": 1}) and subscription.offer({"seq": 2})
    subscription.close()
    assert not subscription.offer({"seq": 3})
    assert [await subscription.next() for _ in range(3)] == [{"seq": 1}, {"seq": 2}, None]


async def test_an_overflowing_subscription_closes_so_the_browser_reconnects_and_catches_up() -> (
    None
):
    subscription = Subscription(size=2)
    assert subscription.offer({"seq": 1}) and subscription.offer({"seq": 2})
    assert not subscription.offer({"seq": 3})  # full: closed instead of blocking the feed
    assert subscription.closed
    received = [await subscription.next(), await subscription.next()]
    assert received[-1] is None  # the end marker always fits
