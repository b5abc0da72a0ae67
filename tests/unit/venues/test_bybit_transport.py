"""pybit plumbing that needs no server: URL overrides, the mainnet guard, the thread-safe callback."""

from __future__ import annotations

import asyncio
import threading

import pytest

from omni.domain.errors import VenueFatal
from omni.venues.bybit_transport import Inbox, LocalHTTP, LocalWebSocket, check_not_mainnet, default_urls


@pytest.mark.parametrize(
    "url",
    [
        "https://api.bybit.com",
        "https://api.bytick.com",
        "https://api.bybit.nl/",
        "https://api.bybit.com.",  # a trailing dot is the same host
        "https://API.BYBIT.COM",
        "https://api.bybit.kz",
        "https://api2.bybit.com",
        "https://my-proxy.example.com",
        "http://api-testnet.bybit.com",  # keys in clear text to a remote host
        "api-testnet.bybit.com",  # no scheme: not a URL we can vouch for
    ],
)
def test_private_calls_to_any_host_but_testnet_demo_or_loopback_are_refused(url):
    with pytest.raises(VenueFatal, match="MAINNET"):
        check_not_mainnet(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api-testnet.bybit.com",
        "https://api-demo.bybit.com",
        "https://API-TESTNET.bybit.com/",
        "http://127.0.0.1:8123",
        "http://localhost:8123",
        "http://[::1]:8123",
    ],
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
        inbox = Inbox(asyncio.get_running_loop())
        cb = inbox.callback("public-0")
        t = threading.Thread(target=cb, args=({"topic": "kline.1.BTCUSDT"},))
        t.start()
        t.join()
        await asyncio.wait_for(inbox.wake.wait(), 1)
        return inbox.pop(), cb

    (tag, msg), cb = asyncio.run(main())
    assert tag == "public-0" and msg["topic"] == "kline.1.BTCUSDT"
    cb({"late": True})  # the loop is closed now: silently dropped, no exception into pybit


def test_a_burst_from_socket_threads_arrives_whole_in_order_with_few_wake_ups():
    # each wake-up writes a byte to the loop's self-pipe, which signals share: a wake per message filled it while the
    # loop was busy and a Ctrl-C was lost; a burst now costs one wake while the loop has not run
    async def main():
        loop = asyncio.get_running_loop()
        inbox = Inbox(loop)
        wakes = 0
        real = loop.call_soon_threadsafe

        def counting(*args):
            nonlocal wakes
            wakes += 1
            return real(*args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        cbs = [inbox.callback(f"public-{k}") for k in range(4)]

        def burst(k: int) -> None:
            for i in range(5000):
                cbs[k]({"topic": f"kline.1.S{k}", "i": i})

        threads = [threading.Thread(target=burst, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        await asyncio.sleep(0.05)
        got = []
        while (item := inbox.pop()) is not None:
            got.append(item)
        return got, wakes

    got, wakes = asyncio.run(main())
    assert len(got) == 20_000
    for k in range(4):
        assert [m["i"] for tag, m in got if tag == f"public-{k}"] == list(range(5000))
    assert wakes < 100  # the loop never ran during the burst: one wake, a few at most


def test_inbox_never_drops_private_messages_and_counts_public_overflow():
    async def main():
        inbox = Inbox(asyncio.get_running_loop(), max_public=3)
        for i in range(5):
            inbox.put("public-0", {"topic": "kline.1.X", "i": i})
        for i in range(5):
            inbox.put("private", {"topic": "execution", "i": i})
        acks = []
        inbox.control["private"] = acks.append
        inbox.put("private", {"op": "auth", "success": True, "conn_id": "c1"})
        out = []
        while (item := inbox.pop()) is not None:
            out.append(item)
        return inbox, out, acks

    inbox, out, acks = asyncio.run(main())
    assert [m["i"] for t, m in out if t == "private"] == [0, 1, 2, 3, 4]
    assert [m["i"] for t, m in out if t == "public-0"] == [0, 1, 2]
    assert inbox.overflowed == 2
    assert acks == [{"op": "auth", "success": True, "conn_id": "c1"}]  # handled on arrival, not queued


def test_socket_records_pongs_and_never_lets_a_bad_frame_escape_into_pybit():
    got = []
    ws = LocalWebSocket.__new__(LocalWebSocket)  # no connection: only the message path is exercised
    ws.callback = got.append
    ws.last_pong = ws.last_message = 0.0
    ws._on_message('{"op": "pong", "args": ["1"]}')  # private JSON pong
    ws._on_message('{"success": true, "ret_msg": "pong", "op": "ping"}')  # public JSON pong
    assert ws.last_pong > 0 and got == [] and ws.last_message == 0.0
    ws._on_message("{not json")
    ws._on_message('{"topic": "order", "data": []}')
    assert got[0]["_malformed"] == "{not json" and got[1]["topic"] == "order" and ws.last_message > 0
    ws.callback = lambda m: 1 / 0  # even a callback that raises does not reach pybit
    ws._on_message('{"topic": "order", "data": []}')
