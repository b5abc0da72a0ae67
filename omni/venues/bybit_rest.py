"""Bybit REST through pybit's blocking ``HTTP``, off the event loop, on separate budgets.

Bybit limits HTTP per IP (600 requests / 5 s, all endpoints; over it: HTTP 403 and a ban of 10 min or more)
and private endpoints per UID and endpoint (a rolling second, retCode 10006). ``/v5/market/*`` counts only
against the IP limit. So every call passes two token buckets (asyncio-throttle): the shared IP bucket and the
bucket of its lane:
- ``market``: public market data (warm-up klines, gap fills, tickers, instruments): the bulk of start-up;
- ``account``: private reads (executions, positions, orders, wallet) for resyncs;
- ``order``: order entry, cancels, stops and leverage: its own budget, so a warm-up or a resync never
  starves an order or a kill-switch close.
pybit gets a sentinel ``retry_codes`` so it never sleeps in a worker thread (an empty set falls back to its
defaults, which sleep on 10002/10006); retries happen here with tenacity, on retryable errors only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from asyncio_throttle import Throttler
from pybit.exceptions import FailedRequestError, InvalidRequestError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from omni.domain.errors import VenueError, VenueFatal, VenueRetryable
from omni.venues import bybit_codec as codec

#: a retCode Bybit never sends: pybit's own retry loop (which sleeps in the calling thread) stays idle
NO_PYBIT_RETRIES = frozenset({-424242})
CLOCK_SKEW = 10002
LANES = ("market", "account", "order")


class RestClient:
    def __init__(
        self,
        http: Any,
        *,
        ip_per_s: float = 60.0,
        market_per_s: float = 25.0,
        account_per_s: float = 20.0,
        order_per_s: float = 10.0,
        on_clock_skew: Callable[[], Awaitable[None]] | None = None,
        attempts: int = 4,
    ):
        self.http = http
        self.ip = Throttler(rate_limit=max(1, int(ip_per_s)), period=1.0)
        self.lanes = {
            "market": Throttler(rate_limit=max(1, int(market_per_s)), period=1.0),
            "account": Throttler(rate_limit=max(1, int(account_per_s)), period=1.0),
            "order": Throttler(rate_limit=max(1, int(order_per_s)), period=1.0),
        }
        self.on_clock_skew = on_clock_skew
        self.attempts = attempts
        self.calls: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()

    async def once(self, fn: Callable[..., Any], lane: str, params: dict[str, Any]) -> dict[str, Any]:
        """One request: both budgets, then pybit in a worker thread; errors as VenueError with Bybit's code."""
        async with self.lanes[lane], self.ip:
            self.calls[lane] += 1
            try:
                reply = await asyncio.to_thread(fn, **params)
            except InvalidRequestError as e:
                self.errors[int(e.status_code)] += 1
                raise codec.venue_error(int(e.status_code), str(e.message)) from None
            except FailedRequestError as e:
                code = int(e.status_code or 0)
                self.errors[code] += 1
                gave_up = "Retries exceeded" in str(e.message)
                cls = VenueRetryable if gave_up or code in (0, 429, 500, 502, 503, 504) else VenueFatal
                raise cls(f"HTTP {code}: {e.message}", code) from None
            except ValueError as e:  # pybit's JSON decode of an HTML error page, or a negative sleep
                self.errors[-1] += 1
                raise VenueRetryable(f"pybit: {e}", -1) from None
            except (ConnectionError, TimeoutError, OSError) as e:  # requests' errors are OSErrors
                self.errors[-2] += 1
                raise VenueRetryable(f"network: {e!r}") from None
        return reply["result"] if isinstance(reply, dict) and "result" in reply else reply

    async def call(self, fn: Callable[..., Any], lane: str = "account", *, retry: bool = True, **params: Any) -> Any:
        """A request retried with backoff on retryable errors (reads and idempotent writes only)."""
        if not retry:
            return await self.once(fn, lane, params)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            reraise=True,
            wait=wait_exponential(multiplier=0.25, max=5),
            retry=retry_if_exception_type(VenueRetryable),
        ):
            with attempt:
                try:
                    return await self.once(fn, lane, params)
                except VenueError as e:
                    if e.code == CLOCK_SKEW and self.on_clock_skew is not None:
                        await self.on_clock_skew()  # the request was refused, so retrying is safe
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def pages(
        self, fn: Callable[..., Any], lane: str = "account", *, max_pages: int = 1000, **params: Any
    ) -> list[dict[str, Any]]:
        """Every item of a cursor-paged list endpoint."""
        out: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(max_pages):
            res = await self.call(fn, lane, **params, **({"cursor": cursor} if cursor else {}))
            out += res.get("list", []) or []
            cursor = res.get("nextPageCursor") or ""
            if not cursor:
                break
        return out
