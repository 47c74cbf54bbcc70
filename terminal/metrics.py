"""Prometheus metrics of the terminal, exported at /metrics with django-prometheus's registry."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Submit → the venue's answer (accepted or refused) of one order, as the status board's
# "order cycle p95" reads it. Buckets resolve the 50 ms target and a slow venue's seconds.
ORDER_CYCLE_SECONDS = Histogram(
    "order_cycle_seconds",
    "Time from sending an order to the exchange until the exchange answered (submit → ack).",
    ["exchange", "type"],
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Outcomes of order submissions: accepted, rejected (by the venue), unknown (no answer).
ORDERS_SUBMITTED = Counter(
    "terminal_orders_submitted_total",
    "Orders sent to an exchange, by outcome.",
    ["exchange", "type", "outcome"],
)
