"""Instruments of the built-in demo exchange, with the precision and limits of a real venue.

The steps and limits follow what Binance spot publishes for the same pairs, so orders that pass
the demo's validation would also pass a real exchange's, and the other way round.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Taker and maker fee of the demo exchange: Binance spot's base rate without discounts.
DEMO_FEE_RATE = Decimal("0.001")


@dataclass(frozen=True)
class Instrument:
    """One spot market of the demo exchange and the parameters of its price feed."""

    symbol: str  # unified symbol, "BTC/USDT"
    base: str
    quote: str
    price_step: Decimal  # tick size: every price is a multiple of it
    amount_step: Decimal  # lot size: every amount is a multiple of it
    min_amount: Decimal
    min_notional: Decimal  # minimum amount * price of an order, in the quote currency
    anchor_price: Decimal  # the feed wanders around this price and always comes back
    daily_volatility: float  # standard deviation of daily log returns
    typical_volume: float  # typical 24 h volume, in the base currency
    max_amount: Decimal | None = None  # the largest amount of one order, None for no limit

    @property
    def id(self) -> str:
        """The exchange's own market id, written like Binance's: "BTCUSDT"."""
        return f"{self.base}{self.quote}"


def _instrument(
    symbol: str,
    price_step: str,
    amount_step: str,
    min_notional: str,
    anchor_price: str,
    daily_volatility: float,
    typical_volume: float,
    max_amount: str,
) -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(
        symbol=symbol,
        base=base,
        quote=quote,
        price_step=Decimal(price_step),
        amount_step=Decimal(amount_step),
        # Binance's minimum quantity equals the lot size on these pairs.
        min_amount=Decimal(amount_step),
        min_notional=Decimal(min_notional),
        anchor_price=Decimal(anchor_price),
        daily_volatility=daily_volatility,
        typical_volume=typical_volume,
        max_amount=Decimal(max_amount),
    )


INSTRUMENTS: dict[str, Instrument] = {
    instrument.symbol: instrument
    for instrument in (
        _instrument("BTC/USDT", "0.01", "0.00001", "5", "95000.00", 0.030, 20_000.0, "9000"),
        _instrument("ETH/USDT", "0.01", "0.0001", "5", "3400.00", 0.038, 350_000.0, "9000"),
        _instrument("SOL/USDT", "0.01", "0.001", "5", "170.00", 0.050, 2_500_000.0, "90000"),
        _instrument("BNB/USDT", "0.01", "0.001", "5", "640.00", 0.028, 250_000.0, "9000"),
        _instrument("XRP/USDT", "0.0001", "0.1", "5", "2.2000", 0.045, 150_000_000.0, "9222449"),
    )
}


def get_instrument(symbol: str) -> Instrument:
    """Return the demo instrument for a unified symbol; raise KeyError if the demo has none."""
    try:
        return INSTRUMENTS[symbol]
    except KeyError:
        raise KeyError(f"The demo exchange has no instrument {symbol!r}.") from None


def ccxt_market(instrument: Instrument) -> dict[str, Any]:
    """Describe `instrument` in ccxt's unified market structure, as `load_markets` returns it.

    Precision is given as tick sizes (ccxt's TICK_SIZE precision mode, the one Binance uses), and
    numbers are floats like ccxt's; `info` keeps the exact decimals as strings.
    """
    fee = float(DEMO_FEE_RATE)
    return {
        "id": instrument.id,
        "lowercaseId": instrument.id.lower(),
        "symbol": instrument.symbol,
        "base": instrument.base,
        "quote": instrument.quote,
        "settle": None,
        "baseId": instrument.base,
        "quoteId": instrument.quote,
        "settleId": None,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "active": True,
        "linear": None,
        "inverse": None,
        "contractSize": None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "taker": fee,
        "maker": fee,
        "percentage": True,
        "tierBased": False,
        "feeSide": "get",
        "precision": {
            "amount": float(instrument.amount_step),
            "price": float(instrument.price_step),
            "base": float(instrument.amount_step),
            "quote": float(instrument.price_step),
        },
        "limits": {
            "leverage": {"min": None, "max": None},
            "amount": {
                "min": float(instrument.min_amount),
                "max": None if instrument.max_amount is None else float(instrument.max_amount),
            },
            "price": {"min": float(instrument.price_step), "max": None},
            "cost": {"min": float(instrument.min_notional), "max": None},
            "market": {"min": None, "max": None},
        },
        "created": None,
        "info": {
            "symbol": instrument.id,
            "price_step": str(instrument.price_step),
            "amount_step": str(instrument.amount_step),
            "min_amount": str(instrument.min_amount),
            "min_notional": str(instrument.min_notional),
        },
    }
