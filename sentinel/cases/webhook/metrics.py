"""Prometheus figures of the webhook, in the daemon's registry (served by the console at `/metrics`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

if TYPE_CHECKING:
    from sentinel.cases.webhook.sender import WebhookSender

OUTCOMES = ("delivered", "retry", "gave_up")


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "sentinel_webhook_attempts", "Webhook delivery attempts by outcome (delivered, retry, gave_up)",
            ["outcome"], registry=registry,
        )  # fmt: skip
        for outcome in OUTCOMES:
            self.attempts.labels(outcome)
        self.pending = Gauge(
            "sentinel_webhook_pending", "Webhook deliveries neither delivered nor given up", registry=registry
        )

    def observe(self, outcome: str) -> None:
        self.attempts.labels(outcome).inc()

    def watch(self, sender: WebhookSender) -> None:
        """The pending gauge reads the database when scraped (NaN while it cannot be read)."""

        def pending() -> float:
            try:
                return float(sender.pending())
            except Exception:  # the database is away: say "unknown", never fail the scrape
                return math.nan

        self.pending.set_function(pending)
