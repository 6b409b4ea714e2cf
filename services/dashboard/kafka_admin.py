"""The dashboard's Kafka clients for what the CloudEvents consumer does not do: reading
dead-letter topics and measuring consumer lag. They come from ``kit.streams``, which the CLI
uses too, so the operator view and ``konsortio consumers lag`` agree (including the end-offset
correction for Tansu described there)."""

from __future__ import annotations

from kit.streams import admin_client, existing_partitions, groupless_consumer

__all__ = ["admin_client", "existing_partitions", "groupless_consumer"]
