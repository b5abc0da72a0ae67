"""Bybit V5 JSON <-> domain values for the account, pure (no I/O): the wallet and the transaction log.

The UNIFIED wallet-balance account object (USDT only) and /v5/account/transaction-log rows (``Transaction``, the
``TX_*`` types the emulator books). Shared basics (CATEGORY, COIN, CodecError, ``dstr``/``dnum``/``dopt``) are in
``bybit_codec``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from omni.domain.instrument import ZERO
from omni.venues.bybit_codec import CATEGORY, COIN, CodecError, dnum, dopt, dstr, item_error

_COIN_FIXED = {"free": "", "locked": "0", "spotHedgingQty": "0", "borrowAmount": "0", "availableToWithdraw": "",
               "accruedInterest": "0", "bonus": "0", "marginCollateral": True, "collateralSwitch": True,
               "spotBorrow": "0"}  # fmt: skip


# ---------------------------------------------------------------- wallet


def _rate(part: Decimal, whole: Decimal) -> str:
    return dstr((part / whole).quantize(Decimal("0.0001"))) if whole > 0 else "0"


def wallet_to_account(
    *,
    balance: Decimal,
    available: Decimal,
    equity: Decimal,
    unrealised: Decimal,
    position_im: Decimal,
    order_im: Decimal = ZERO,
    position_mm: Decimal = ZERO,
    cum_realised: Decimal = ZERO,
) -> dict[str, Any]:
    """One UNIFIED wallet-balance account object (USDT only; USD values = USDT)."""
    im = position_im + order_im
    coin = {
        "coin": COIN, "equity": dstr(equity), "usdValue": dstr(equity), "walletBalance": dstr(balance),
        "totalOrderIM": dstr(order_im), "totalPositionIM": dstr(position_im), "totalPositionMM": dstr(position_mm),
        "unrealisedPnl": dstr(unrealised), "cumRealisedPnl": dstr(cum_realised), **_COIN_FIXED,
    }  # fmt: skip
    return {
        "accountType": "UNIFIED", "accountIMRate": _rate(im, equity), "accountMMRate": _rate(position_mm, equity),
        "accountLTV": "0", "totalEquity": dstr(equity), "totalWalletBalance": dstr(balance),
        "totalMarginBalance": dstr(balance + unrealised), "totalAvailableBalance": dstr(available),
        "totalPerpUPL": dstr(unrealised), "totalInitialMargin": dstr(im),
        "totalMaintenanceMargin": dstr(position_mm), "coin": [coin],
    }  # fmt: skip


def wallet_from_account(account: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """(USDT walletBalance, totalAvailableBalance) from a wallet-balance account object."""
    for coin in account.get("coin") or []:
        if coin.get("coin") == COIN:
            return dnum(coin["walletBalance"], "walletBalance"), dnum(account["totalAvailableBalance"])
    raise CodecError("wallet has no USDT coin")


# ---------------------------------------------------------------- transaction log (account/transaction-log)

#: transaction-log ``type`` values the emulator books (Bybit's names, docs/v5/enum "type(uta-translog)")
TX_TRADE, TX_SETTLEMENT, TX_LIQUIDATION = "TRADE", "SETTLEMENT", "LIQUIDATION"
TX_TRANSFER_IN, TX_TRANSFER_OUT = "TRANSFER_IN", "TRANSFER_OUT"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One /v5/account/transaction-log row of the USDT wallet.

    ``cash_flow`` is realised PnL (trades, liquidation) or the amount moved (transfers, signed); ``funding`` > 0 is
    received (the opposite sign of an execution's ``execFee``); ``fee`` > 0 is paid. So ``change = cash_flow +
    funding - fee`` and ``cash_balance`` is the wallet balance right after the row.
    """

    id: str
    type: str
    ts: int
    cash_balance: Decimal
    cash_flow: Decimal = ZERO
    funding: Decimal | None = None
    fee: Decimal | None = None
    symbol: str = ""
    category: str = CATEGORY
    side: str = "None"
    qty: Decimal = ZERO
    size: Decimal = ZERO  # the position after the row, signed (short < 0)
    price: Decimal | None = None
    fee_rate: Decimal | None = None
    trade_id: str = ""
    order_id: str = ""
    order_link_id: str = ""

    @property
    def change(self) -> Decimal:
        return self.cash_flow + (self.funding or ZERO) - (self.fee or ZERO)


def transaction_to_item(tx: Transaction) -> dict[str, Any]:
    """A transaction-log list item, every number a string ('' where Bybit leaves a field empty)."""
    return {
        "id": tx.id, "symbol": tx.symbol, "category": tx.category, "side": tx.side,
        "transactionTime": str(tx.ts), "type": tx.type, "transSubType": "", "qty": dstr(tx.qty),
        "size": dstr(tx.size), "currency": COIN, "tradePrice": dstr(tx.price), "funding": dstr(tx.funding),
        "fee": dstr(tx.fee), "cashFlow": dstr(tx.cash_flow), "change": dstr(tx.change),
        "cashBalance": dstr(tx.cash_balance), "feeRate": dstr(tx.fee_rate), "bonusChange": "",
        "tradeId": tx.trade_id, "orderId": tx.order_id, "orderLinkId": tx.order_link_id, "extraFees": "",
    }  # fmt: skip


def transaction_from_item(item: dict[str, Any]) -> Transaction:
    """Parse a transaction-log item (numbers exact; empty strings become None / 0)."""
    try:
        return Transaction(
            str(item["id"]), item["type"], int(item["transactionTime"]), dnum(item["cashBalance"], "cashBalance"),
            dnum(item.get("cashFlow") or "0", "cashFlow"),
            dnum(item["funding"], "funding") if item.get("funding") not in (None, "") else None,
            dnum(item["fee"], "fee") if item.get("fee") not in (None, "") else None,
            item.get("symbol") or "", item.get("category") or "", item.get("side") or "None",
            dnum(item.get("qty") or "0", "qty"), dnum(item.get("size") or "0", "size"), dopt(item.get("tradePrice")),
            dnum(item["feeRate"], "feeRate") if item.get("feeRate") not in (None, "") else None,
            item.get("tradeId") or "", item.get("orderId") or "", item.get("orderLinkId") or "",
        )  # fmt: skip
    except (KeyError, ValueError, TypeError) as e:
        raise item_error("transaction-log", item, "id", e) from None
