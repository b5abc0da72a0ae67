"""The exchange's own records, read through pybit's HTTP client with the rehearsal's key (the same client and
the same endpoints a user would use against Bybit): positions, order history, executions, the wallet, and the
market's clock (the newest 1m kline).

Every call is retried: the faults the rehearsal injects (HTTP 503, retCode 10016, 10006 windows, closed
connections) hit the judge's reads as well as the daemon's.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from omni.venues.bybit_transport import LocalHTTP

#: Bybit's longest window for order history and executions
WEEK_MS = 7 * 86_400_000
#: listing windows start this long before the run's first market minute and end this long after its last
WINDOW_MARGIN_MS = 86_400_000


class ExchangeError(RuntimeError):
    """The exchange did not answer (the emulator is gone or keeps failing)."""


class Exchange:
    def __init__(self, url: str, api_key: str, api_secret: str, *, attempts: int = 40, pause_s: float = 0.25):
        logging.getLogger("pybit").setLevel(logging.CRITICAL)  # its retry chatter under injected faults
        self.url = url
        self.http = LocalHTTP(url, testnet=True, api_key=api_key, api_secret=api_secret, retry_delay=0,
                              max_retries=3, recv_window=60_000, timeout=10)  # fmt: skip
        self.attempts, self.pause_s = attempts, pause_s
        self._symbol: str | None = None

    def call(self, name: str, *, attempts: int | None = None, **params: Any) -> dict[str, Any]:
        """``result`` of a pybit HTTP method, retried on faults; ``ExchangeError`` after ``attempts``."""
        last: object = None
        for _ in range(attempts or self.attempts):
            try:
                reply = getattr(self.http, name)(**params)
                if reply.get("retCode") == 0:
                    return reply["result"]
                last = reply
            except Exception as e:  # 503 / 10016 / 10006 from the faults, a connection closed by the server
                last = e
            time.sleep(self.pause_s)
        raise ExchangeError(f"{name} failed {attempts or self.attempts} times; last: {last!r}"[:600])

    def paged(self, name: str, *, limit: int, **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(100_000):
            result = self.call(name, category="linear", limit=limit, cursor=cursor, **params)
            out += result.get("list") or []
            cursor = result.get("nextPageCursor") or ""
            if not cursor:
                return out
        raise ExchangeError(f"{name}: endless paging")

    def windowed(self, name: str, *, limit: int, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Every item from ``start_ms`` to ``end_ms``, in 7-day windows (Bybit's longest), each paged."""
        out: list[dict[str, Any]] = []
        lo = start_ms
        while lo <= end_ms:
            hi = min(lo + WEEK_MS - 1, end_ms)
            out += self.paged(name, limit=limit, startTime=lo, endTime=hi)
            lo = hi + 1
        return out

    # ------------------------------------------------------------ what the judge reads

    def symbols(self) -> list[str]:
        items = self.paged("get_instruments_info", limit=1000)
        return sorted(i["symbol"] for i in items if i.get("status", "Trading") == "Trading")

    def market_ms(self, attempts: int | None = None) -> int:
        """The market's clock: the start of the newest 1m bar (market time, not the server's wall clock)."""
        if self._symbol is None:
            symbols = self.symbols()
            if not symbols:
                raise ExchangeError("the exchange lists no instrument")
            self._symbol = symbols[0]
        rows = self.call("get_kline", attempts=attempts, category="linear", symbol=self._symbol, interval="1",
                         limit=1)["list"]  # fmt: skip
        if not rows:
            raise ExchangeError(f"no kline for {self._symbol}")
        return int(rows[0][0])

    def wallet(self) -> Decimal:
        """The USDT walletBalance of the unified account."""
        accounts = self.call("get_wallet_balance", accountType="UNIFIED", coin="USDT")["list"]
        for coin in accounts[0].get("coin") or [] if accounts else []:
            if coin.get("coin") == "USDT":
                return Decimal(coin["walletBalance"])
        raise ExchangeError(f"no USDT in the wallet: {accounts!r}"[:300])

    def positions(self, attempts: int | None = None) -> list[dict[str, Any]]:
        """Open positions (size != 0)."""
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            result = self.call("get_positions", attempts=attempts, category="linear", settleCoin="USDT", limit=200,
                               cursor=cursor)  # fmt: skip
            out += [p for p in result.get("list") or [] if Decimal(p.get("size") or "0") != 0]
            cursor = result.get("nextPageCursor") or ""
            if not cursor:
                return out

    def orders(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Every order of the window (any status), oldest first."""
        items = self.windowed("get_order_history", limit=50, start_ms=start_ms, end_ms=end_ms)
        return sorted(_unique(items, "orderId")[::-1], key=lambda o: int(o.get("createdTime") or 0))

    def executions(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Every execution of the window (trades, bust trades, funding), oldest first."""
        items = self.windowed("get_executions", limit=100, start_ms=start_ms, end_ms=end_ms)
        return sorted(_unique(items, "execId")[::-1], key=lambda x: int(x.get("execTime") or 0))


def _unique(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Items listed twice (adjacent windows, a page that moved under the cursor) once, in listing order."""
    seen: set[str] = set()
    out = []
    for item in items:
        if item.get(key) not in seen:
            seen.add(item.get(key))  # type: ignore[arg-type]
            out.append(item)
    return out
