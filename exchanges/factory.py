"""`gateway_for(connection)`: the one way to a connection's venue.

`demo` connections get the built-in demo exchange (exchanges.demo.venue); every other exchange
id is a ccxt exchange (exchanges.ccxt_gateway), in sandbox mode for `testnet` connections. The
interface the venues implement is `exchanges.gateway.Gateway`.
"""

from __future__ import annotations

from django.views.decorators.debug import sensitive_variables

from exchanges import crypto
from exchanges.ccxt_gateway import CcxtGateway
from exchanges.demo.venue import DemoGateway
from exchanges.exceptions import LiveTradingNotApproved
from exchanges.gateway import DEMO_EXCHANGE, Gateway
from exchanges.models import ExchangeConnection


@sensitive_variables("credentials")  # kept out of error reports
def gateway_for(connection: ExchangeConnection) -> Gateway:
    """The gateway of `connection`; its credentials are decrypted here and nowhere else.

    Raises LiveTradingNotApproved for `live` connections (until the two-person approval of live
    mode exists), ConnectionSecretsUnavailable when no configured key opens the credentials, and
    ExchangeNotSupported for an exchange or mode the gateway cannot serve.
    """
    if connection.exchange == DEMO_EXCHANGE:
        return DemoGateway(connection)
    if connection.mode == ExchangeConnection.Mode.LIVE:
        raise LiveTradingNotApproved(
            "Live connections stay disabled until live trading is approved by two admins."
        )
    credentials: dict[str, str] = {}
    if connection.encrypted_secret:
        credentials = crypto.unseal(
            connection.encrypted_secret,
            sealed_key_id=connection.secret_key_id,
            connection_id=connection.pk,
        )
    return CcxtGateway(connection, credentials)
