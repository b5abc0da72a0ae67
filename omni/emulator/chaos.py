"""Seeded fault injection ("chaos") for the emulator: off by default, repeatable, logged when a fault fires.

``ChaosConfig`` says which faults are on (a zero rate or period is off); ``Chaos`` holds the random streams.
One ``random.Random(seed)`` draws a sub-seed for every kind of fault in a fixed order, so each fault has its
own stream: the firing schedule of one timer and the sequence of yes/no draws of one per-request fault do not
depend on which other faults are on or on how requests and timers interleave. Same seed, same schedule.

The faults (who applies them):

- ``ws_drop``: every ~S s (jittered +-20 %) the server closes every WebSocket (``WsHub.drop_all``).
- ``ws_stall``: every ~S s all pushes stop for ``ws_stall_seconds`` (``WsHub.stall``): frames queue up and go
  out late, text pongs included, as on a half-dead socket; the socket stays open (aiohttp still answers
  RFC 6455 protocol pings itself).
- ``private_gap``: every ~S s, for ``private_gap_seconds``, private topic frames (order, execution, position,
  wallet) are dropped, never sent, while the socket stays up and answers pings; REST state is unaffected.
- ``rest_fail``: each REST request fails with probability P: half HTTP 503 with a text body, half HTTP 200
  with retCode 10016; the request is not applied.
- ``rate_limit``: every ~S s, for ``rate_limit_seconds``, every private REST request gets retCode 10006 with a
  reset timestamp at the window's end (in the future: pybit sleeps until then).
- ``reply_lost``: a successful POST /v5/order/create is applied but its connection is closed without a reply.
- ``latency``: every REST reply and WebSocket frame is delayed by ~MS ms (uniform 0.5x..1.5x), per-socket
  order preserved. It is continuous, so it is logged once, when armed, not per reply.
- ``cancel_market``: a (non reduce-only) market order is accepted and then cancelled unfilled by the exchange
  (also the test hook ``EmulatorState.cancel_next_market_orders(n)``).

Every firing logs one line: ``event="chaos"``, ``kind=<kind>`` plus details (seconds, path, ...).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import structlog

LOGGER = "omni.emulator.chaos"
KINDS = (
    "ws_drop", "ws_stall", "private_gap", "rest_fail", "rate_limit", "reply_lost", "latency", "cancel_market",
)  # fmt: skip
#: a timer fault fires every ``every * uniform(1 - JITTER, 1 + JITTER)`` seconds
JITTER = 0.2


def chaos_event(kind: str, **details: object) -> None:
    """The one log line of a fault that fired.

    A fresh logger per line (faults are rare): a proxy cached at first use would keep the processors of that
    moment, and tests could not capture the line (``structlog.testing.capture_logs``).
    """
    structlog.get_logger(LOGGER).info("chaos", kind=kind, **details)


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """Which faults to inject. Periods and durations are seconds, rates are probabilities; 0 means off."""

    seed: int = 1
    ws_drop_every: float = 0.0
    ws_stall_every: float = 0.0
    ws_stall_seconds: float = 5.0
    private_gap_every: float = 0.0
    private_gap_seconds: float = 5.0
    rest_fail_rate: float = 0.0
    rate_limit_every: float = 0.0
    rate_limit_seconds: float = 1.0
    reply_lost_rate: float = 0.0
    latency_ms: float = 0.0
    cancel_market_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rest_fail_rate", "reply_lost_rate", "cancel_market_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"chaos {name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("ws_drop_every", "ws_stall_every", "private_gap_every", "rate_limit_every", "latency_ms"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"chaos {name} must be >= 0 (0 = off), got {getattr(self, name)}")
        for name in ("ws_stall_seconds", "private_gap_seconds", "rate_limit_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"chaos {name} must be > 0, got {getattr(self, name)}")

    @property
    def timers(self) -> dict[str, float]:
        """The timer faults that are on: kind -> mean period (s)."""
        periods = {"ws_drop": self.ws_drop_every, "ws_stall": self.ws_stall_every,
                   "private_gap": self.private_gap_every, "rate_limit": self.rate_limit_every}  # fmt: skip
        return {k: v for k, v in periods.items() if v > 0}

    @property
    def active(self) -> bool:
        return bool(self.describe())

    def describe(self) -> list[str]:
        """The active faults in words, e.g. ``["ws-drop every 30s", "reply-lost 5%"]`` (empty when all off)."""

        def n(x: float) -> str:
            return f"{x:g}"

        out = []
        if self.ws_drop_every:
            out.append(f"ws-drop every {n(self.ws_drop_every)}s")
        if self.ws_stall_every:
            out.append(f"ws-stall {n(self.ws_stall_seconds)}s every {n(self.ws_stall_every)}s")
        if self.private_gap_every:
            out.append(f"private-gap {n(self.private_gap_seconds)}s every {n(self.private_gap_every)}s")
        if self.rest_fail_rate:
            out.append(f"rest-fail {n(self.rest_fail_rate * 100)}%")
        if self.rate_limit_every:
            out.append(f"rate-limit {n(self.rate_limit_seconds)}s every {n(self.rate_limit_every)}s")
        if self.reply_lost_rate:
            out.append(f"reply-lost {n(self.reply_lost_rate * 100)}%")
        if self.latency_ms:
            out.append(f"latency {n(self.latency_ms)}ms")
        if self.cancel_market_rate:
            out.append(f"cancel-market {n(self.cancel_market_rate * 100)}%")
        return out


class Chaos:
    """The random streams of one emulator run, one per kind of fault, all from ``config.seed``."""

    def __init__(self, config: ChaosConfig):
        self.config = config
        master = random.Random(config.seed)
        self.rng = {kind: random.Random(master.getrandbits(64)) for kind in KINDS}

    def schedule(self, kind: str, every: float) -> Iterator[float]:
        """Endless waits (s) between firings of a timer fault: ``every`` jittered by +-20 %."""
        rng = self.rng[kind]
        while True:
            yield every * rng.uniform(1 - JITTER, 1 + JITTER)

    def roll(self, kind: str, rate: float) -> bool:
        """True with probability ``rate`` (no draw at all when the rate is 0, so an off fault costs nothing)."""
        return rate > 0 and self.rng[kind].random() < rate

    def coin(self, kind: str) -> bool:
        return self.rng[kind].random() < 0.5

    def latency_s(self) -> float:
        """One delay (s) for a reply or frame: ``latency_ms`` times uniform(0.5, 1.5); 0 when off."""
        ms = self.config.latency_ms
        return ms * self.rng["latency"].uniform(0.5, 1.5) / 1000 if ms > 0 else 0.0
