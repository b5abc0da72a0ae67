"""Bybit V5 signature checks, with the test vectors of shared/docs/bybit-v5.md §3."""

from __future__ import annotations

import pytest

from omni.emulator import auth

KEY, SECRET, TS, RECV = "testkey", "testsecret", 1_700_000_000_000, 5000
GET_QUERY = "category=linear&symbol=BTCUSDT"
GET_SIGN = "f2f79889fd1201752936b389c890e9d393e01e0311a6d8785fb80753aa26c69b"
POST_BODY = b'{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.001"}'
POST_SIGN = "e8783639cd6ccac1b89a0c0dab6519af19e393b0aa98572e06ebacd42a11089e"
WS_EXPIRES, WS_SIGN = 1_700_000_001_000, "26df689652787d6e2816d6ac43239f177f3a452676ef6c0a64e80828cb7144c7"
SECRETS = {KEY: SECRET}


def headers(sign: str, ts: int = TS, key: str = KEY, recv: int | None = RECV) -> dict[str, str]:
    h = {"X-BAPI-API-KEY": key, "X-BAPI-SIGN": sign, "X-BAPI-TIMESTAMP": str(ts), "X-BAPI-SIGN-TYPE": "2"}
    if recv is not None:
        h["X-BAPI-RECV-WINDOW"] = str(recv)
    return h


def test_rest_sign_matches_the_documented_vectors():
    assert auth.rest_sign(SECRET, KEY, TS, RECV, GET_QUERY) == GET_SIGN
    assert auth.rest_sign(SECRET, KEY, TS, RECV, POST_BODY) == POST_SIGN


def test_check_rest_accepts_the_documented_get_and_post():
    assert auth.check_rest(headers(GET_SIGN), auth.rest_payload("GET", GET_QUERY, b""), SECRETS, TS) == KEY
    assert auth.check_rest(headers(POST_SIGN), auth.rest_payload("POST", "", POST_BODY), SECRETS, TS) == KEY


def test_get_payload_is_the_query_as_received_percent_decoded_and_unsorted():
    # pybit signs "a b" but requests sends "a%20b"; the order is whatever the client sent
    query_on_wire = "symbol=BTC%20USDT&category=linear"
    signed = auth.rest_sign(SECRET, KEY, TS, RECV, "symbol=BTC USDT&category=linear")
    assert auth.check_rest(headers(signed), auth.rest_payload("GET", query_on_wire, b""), SECRETS, TS) == KEY


def test_post_payload_is_the_raw_body_never_reserialized():
    compact = POST_BODY.replace(b", ", b",").replace(b": ", b":")
    with pytest.raises(auth.AuthFailure) as e:
        auth.check_rest(headers(POST_SIGN), auth.rest_payload("POST", "", compact), SECRETS, TS)
    assert e.value.code == 10004


def test_unknown_key_is_10003():
    with pytest.raises(auth.AuthFailure) as e:
        auth.check_rest(headers(GET_SIGN, key="other"), GET_QUERY.encode(), SECRETS, TS)
    assert (e.value.code, e.value.http_status) == (10003, 200)


def test_bad_signature_is_10004_with_bybits_message():
    with pytest.raises(auth.AuthFailure) as e:
        auth.check_rest(headers("0" * 64), GET_QUERY.encode(), SECRETS, TS)
    assert (e.value.code, e.value.message) == (10004, "Error sign, please check your signature generation algorithm")


@pytest.mark.parametrize(
    ("server_now", "ok"),
    [
        (TS, True),
        (TS + RECV, True),  # server_time - recv_window <= ts
        (TS + RECV + 1, False),  # too old
        (TS - 999, True),  # ts < server_time + 1000
        (TS - 1000, False),  # too far ahead of the server
    ],
)
def test_timestamp_must_lie_inside_the_recv_window(server_now: int, ok: bool):
    signed = auth.rest_sign(SECRET, KEY, TS, RECV, GET_QUERY)
    if ok:
        assert auth.check_rest(headers(signed), GET_QUERY.encode(), SECRETS, server_now) == KEY
        return
    with pytest.raises(auth.AuthFailure) as e:
        auth.check_rest(headers(signed), GET_QUERY.encode(), SECRETS, server_now)
    assert e.value.code == 10002
    assert e.value.message == (
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{TS}],server_timestamp[{server_now}],recv_window[{RECV}]"
    )


def test_recv_window_defaults_to_5000_when_the_header_is_absent():
    signed = auth.rest_sign(SECRET, KEY, TS, "5000", GET_QUERY)
    assert auth.check_rest(headers(signed, recv=None), GET_QUERY.encode(), SECRETS, TS + 5000) == KEY


def test_missing_auth_headers_get_http_401():
    with pytest.raises(auth.AuthFailure) as e:
        auth.check_rest({"X-BAPI-API-KEY": KEY}, b"", SECRETS, TS)
    assert e.value.http_status == 401


def test_header_names_are_case_insensitive_in_plain_dicts():
    h = {k.lower(): v for k, v in headers(GET_SIGN).items()}
    assert auth.check_rest(h, GET_QUERY.encode(), SECRETS, TS) == KEY


def test_ws_sign_matches_the_documented_vector():
    assert auth.ws_sign(SECRET, WS_EXPIRES) == WS_SIGN


def test_check_ws_accepts_a_future_expiry_as_number_or_string():
    assert auth.check_ws([KEY, WS_EXPIRES, WS_SIGN], SECRETS, WS_EXPIRES - 1) == KEY
    assert auth.check_ws([KEY, str(WS_EXPIRES), WS_SIGN], SECRETS, WS_EXPIRES - 1) == KEY


@pytest.mark.parametrize(
    ("args", "now", "code"),
    [
        ([KEY, WS_EXPIRES, WS_SIGN], WS_EXPIRES, 10002),  # expires must be later than now
        (["other", WS_EXPIRES, WS_SIGN], 0, 10003),
        ([KEY, WS_EXPIRES, "f" * 64], 0, 10004),
        ([KEY, WS_EXPIRES], 0, 10001),
        ([KEY, True, WS_SIGN], 0, 10001),
    ],
)
def test_check_ws_refusals(args: list, now: int, code: int):
    with pytest.raises(auth.AuthFailure) as e:
        auth.check_ws(args, SECRETS, now)
    assert e.value.code == code
