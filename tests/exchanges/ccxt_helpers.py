"""Route the gateway's ccxt clients to the local stub exchange (tests/exchanges/stub_exchange.py).

`route_ccxt_to(monkeypatch, stub.base_url)` wraps `exchanges.ccxt_gateway.new_client`, so the
gateway builds its real ccxt client (options, timeout, rate limiter, sandbox mode, credentials)
and only the URLs change. Any test suite that needs a ccxt connection offline can use it.
"""

from __future__ import annotations

from exchanges import ccxt_gateway
from tests.exchanges.stub_exchange import point_ccxt_at


def route_ccxt_to(monkeypatch, base_url: str, *, timeout_ms: int | None = None) -> list:
    """Send every ccxt client the gateway makes to `base_url`; return the list of clients made."""
    original = ccxt_gateway.new_client
    made: list = []

    def new_client(exchange_id, *, sandbox, credentials):
        client = original(exchange_id, sandbox=sandbox, credentials=credentials)
        if timeout_ms is not None:
            client.timeout = timeout_ms
        made.append(client)
        return point_ccxt_at(client, base_url)

    monkeypatch.setattr(ccxt_gateway, "new_client", new_client)
    return made
