"""Errors of connections and of the exchange gateway, rendered as problem+json.

The gateway raises only these (the ccxt adapter maps ccxt's exceptions onto them), so the
terminal, bots and lab handle one set of errors whichever venue sits behind a connection. Their
`detail` is written by us, never copied from a request or a response that could hold a credential.

Errors about an order carry a JSON pointer named after the `create_order` argument at fault
(`/symbol`, `/type`, `/side`, `/amount`, `/price`): the terminal's order body uses the same names.
"""

from __future__ import annotations

from config.problems import Problem


class _PointedProblem(Problem):
    """A problem that may name the offending argument with a JSON pointer (or several: `errors`
    of `{pointer, detail}`, as `exchanges.orders.check_order` reports them)."""

    default_pointer: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        pointer: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ):
        detail = detail or self.title
        if errors:
            pointer = errors[0]["pointer"]
        else:
            pointer = pointer if pointer is not None else self.default_pointer
            errors = [{"pointer": pointer, "detail": detail}] if pointer is not None else None
        super().__init__(detail, errors=errors)
        self.pointer = pointer


class ExchangeAuthFailed(Problem):
    """The exchange refused the connection's credentials.

    400, not 502: the stored API key is what must change (a user's fix, not an outage of ours),
    retrying cannot help, and a 5xx would page the operators and invite clients to retry. Not
    401 either: the caller's own BotMarket login is fine.
    """

    status = 400
    code = "exchange-auth-failed"
    title = "The exchange refused the connection's credentials"


class ExchangeUnreachable(Problem):
    """The exchange did not answer, timed out, or said it is down or in maintenance."""

    status = 503
    code = "exchange-unreachable"
    title = "The exchange cannot be reached"


class ExchangeRateLimited(Problem):
    """The exchange answered "too many requests"; Retry-After repeats its wait when it gave one."""

    status = 429
    code = "exchange-rate-limited"
    title = "The exchange is rate limiting this connection"

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None):
        super().__init__(detail)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers = {"Retry-After": str(max(1, int(retry_after)))}


class ExchangeNotSupported(Problem):
    """The exchange (or this mode of it, or this call) is not available through the gateway."""

    status = 422
    code = "exchange-not-supported"
    title = "The exchange does not support this"


class ExchangeError(Problem):
    """The exchange answered with an error that none of the specific problems describes."""

    status = 502
    code = "exchange-error"
    title = "The exchange returned an error"


class InvalidOrder(_PointedProblem):
    """The order breaks the market's rules (precision, limits, type) or cannot be placed."""

    status = 400
    code = "invalid-order"
    title = "The order is not valid"


class InsufficientFunds(_PointedProblem):
    """Not enough free balance for the order."""

    status = 400
    code = "insufficient-funds"
    title = "Not enough free balance for this order"
    default_pointer = "/amount"


class OrderNotOpen(Problem):
    """The order is no longer open (filled, canceled, expired), so it cannot be canceled."""

    status = 409
    code = "order-not-open"
    title = "The order is not open"


class UnknownSymbol(_PointedProblem):
    """The exchange has no market with this symbol."""

    status = 400
    code = "unknown-symbol"
    title = "The exchange has no such market"
    default_pointer = "/symbol"


class OrderNotFound(Problem):
    """No order with this id (or client order id) on this connection."""

    status = 404
    code = "order-not-found"
    title = "The order was not found"


class LiveTradingNotApproved(Problem):
    """Live (real money) connections need the two-person approval, which is not in place."""

    status = 422
    code = "live-trading-not-approved"
    title = "Live trading has not been approved"


class ConnectionSecretsUnavailable(Problem):
    """None of the configured keys opens the connection's credentials (a lost or removed key)."""

    status = 503
    code = "connection-secrets-unavailable"
    title = "The connection's credentials cannot be decrypted"


class ConnectionInUse(Problem):
    """Something (an order, a bot) still refers to the connection."""

    status = 409
    code = "connection-in-use"
    title = "The connection is still in use"
