"""pybit plumbing that needs no server: URL overrides, the mainnet guard, the thread-safe callback."""

from __future__ import annotations

import asyncio
import threading

import pytest

from omni.domain.errors import VenueFatal
from omni.venues.bybit_transport import LocalHTTP, check_not_mainnet, default_urls, threadsafe_enqueue


@pytest.mark.parametrize("url", ["https://api.bybit.com", "https://api.bytick.com", "https://api.bybit.nl/"])
def test_private_calls_to_mainnet_hosts_are_refused(url):
    with pytest.raises(VenueFatal, match="MAINNET"):
        check_not_mainnet(url)


@pytest.mark.parametrize(
    "url", ["https://api-testnet.bybit.com", "https://api-demo.bybit.com", "http://127.0.0.1:8123"]
)
def test_testnet_demo_and_loopback_are_allowed(url):
    check_not_mainnet(url)


def test_mainnet_needs_an_explicit_opt_in():
    check_not_mainnet("https://api.bybit.com", allow_mainnet=True)


def test_demo_takes_public_data_from_mainnet_sockets_and_private_from_demo():
    rest, public, private = default_urls("bybit-demo")
    assert rest == "https://api-demo.bybit.com"
    assert public == "wss://stream.bybit.com" and private == "wss://stream-demo.bybit.com"
    assert default_urls("bybit-testnet")[0] == "https://api-testnet.bybit.com"


def test_local_http_points_pybit_at_any_base_url():
    session = LocalHTTP("http://127.0.0.1:9/", testnet=True, api_key="k", api_secret="s")
    assert session.endpoint == "http://127.0.0.1:9"


def test_callback_from_a_foreign_thread_lands_in_the_loop_and_never_raises():
    async def main():
        queue: asyncio.Queue = asyncio.Queue()
        cb = threadsafe_enqueue(asyncio.get_running_loop(), queue, "public")
        t = threading.Thread(target=cb, args=({"topic": "kline.1.BTCUSDT"},))
        t.start()
        t.join()
        tag, _, msg = await asyncio.wait_for(queue.get(), 1)
        return tag, msg, cb

    tag, msg, cb = asyncio.run(main())
    assert tag == "public" and msg["topic"] == "kline.1.BTCUSDT"
    cb({"late": True})  # the loop is closed now: silently dropped, no exception into pybit
