"""Bybit V5 request authentication, checked exactly as Bybit does (shared/docs/bybit-v5.md §3).

REST: sign = HMAC_SHA256(secret, timestamp + api_key + recv_window + payload) as lowercase hex, where the
payload is the query string as received (percent-decoded, never re-sorted) for GET and the raw body bytes for
POST. ``X-BAPI-SIGN-TYPE`` is ignored (pybit always sends "2", even for HMAC keys).
WebSocket: ``{"op": "auth", "args": [api_key, expires, sign]}`` with sign = HMAC_SHA256(secret,
"GET/realtime" + expires) and ``expires`` later than now.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

#: retCodes and messages as Bybit sends them
INVALID_KEY = 10003
INVALID_KEY_MSG = "API key is invalid."
BAD_SIGN = 10004
BAD_SIGN_MSG = "Error sign, please check your signature generation algorithm"
BAD_TIMESTAMP = 10002
PARAM_ERROR = 10001
#: Bybit answers requests without the auth headers with HTTP 401 (docs/v5/error.mdx; pybit issue #130)
MISSING_HEADERS_HTTP = 401
#: a request may be at most this far ahead of the server clock (ms)
FUTURE_TOLERANCE_MS = 1000
DEFAULT_RECV_WINDOW = 5000

H_KEY, H_SIGN, H_TS, H_RECV = "X-BAPI-API-KEY", "X-BAPI-SIGN", "X-BAPI-TIMESTAMP", "X-BAPI-RECV-WINDOW"


class AuthFailure(Exception):
    """Authentication refused: answer with ``http_status`` and, when it is 200, Bybit's retCode/retMsg."""

    def __init__(self, code: int, message: str, http_status: int = 200):
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


def sign(secret: str, payload: str | bytes) -> str:
    """HMAC-SHA256 of ``payload`` keyed with ``secret`` (utf-8), lowercase hex."""
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def rest_payload(method: str, raw_query: str, body: bytes) -> bytes:
    """The signed payload of a request: the percent-decoded query string (GET) or the raw body (others)."""
    if method.upper() == "GET":
        return unquote(raw_query).encode()
    return body


def rest_sign(secret: str, api_key: str, timestamp: int | str, recv_window: int | str, payload: str | bytes) -> str:
    """The X-BAPI-SIGN a client sends for ``payload``."""
    data = payload.encode() if isinstance(payload, str) else payload
    return sign(secret, f"{timestamp}{api_key}{recv_window}".encode() + data)


def stale_message(ts: int, now: int, recv_window: int) -> str:
    return (
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv_window}]"
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts in tests; aiohttp's CIMultiDict is already case-insensitive
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


def check_rest(headers: Mapping[str, str], payload: bytes, secrets: Mapping[str, str], now_ms: int) -> str:
    """Authenticate one REST request; returns the API key or raises AuthFailure.

    Order of checks: headers present (HTTP 401), key known (10003), timestamp inside
    ``now - recv_window <= ts < now + 1000`` (10002), signature (10004).
    """
    key, signature, ts_raw = _header(headers, H_KEY), _header(headers, H_SIGN), _header(headers, H_TS)
    if not key or not signature or not ts_raw:
        raise AuthFailure(INVALID_KEY, "missing X-BAPI-API-KEY / X-BAPI-SIGN / X-BAPI-TIMESTAMP", MISSING_HEADERS_HTTP)
    secret = secrets.get(key)
    if secret is None:
        raise AuthFailure(INVALID_KEY, INVALID_KEY_MSG)
    recv_raw = _header(headers, H_RECV) or str(DEFAULT_RECV_WINDOW)
    if not ts_raw.isdigit() or not recv_raw.isdigit():
        raise AuthFailure(PARAM_ERROR, f"params error: timestamp {ts_raw!r} / recv_window {recv_raw!r}")
    ts, recv_window = int(ts_raw), int(recv_raw)
    if not now_ms - recv_window <= ts < now_ms + FUTURE_TOLERANCE_MS:
        raise AuthFailure(BAD_TIMESTAMP, stale_message(ts, now_ms, recv_window))
    expected = rest_sign(secret, key, ts_raw, recv_raw, payload)
    if not hmac.compare_digest(expected, signature.lower()):
        raise AuthFailure(BAD_SIGN, BAD_SIGN_MSG)
    return key


def ws_sign(secret: str, expires: int) -> str:
    """The signature of a WebSocket auth message expiring at ``expires`` (epoch ms)."""
    return sign(secret, f"GET/realtime{expires}")


def check_ws(args: Sequence[object], secrets: Mapping[str, str], now_ms: int) -> str:
    """Authenticate a WS ``auth`` op's ``args`` = [api_key, expires, sign]; returns the key or raises AuthFailure.

    ``expires`` may be a JSON number (pybit) or a digit string.
    """
    if len(args) != 3:
        raise AuthFailure(PARAM_ERROR, "auth args must be [api_key, expires, signature]")
    key, expires_raw, signature = args
    if not isinstance(key, str) or not isinstance(signature, str):
        raise AuthFailure(PARAM_ERROR, "auth args must be [api_key, expires, signature]")
    secret = secrets.get(key)
    if secret is None:
        raise AuthFailure(INVALID_KEY, "Invalid apikey")
    if isinstance(expires_raw, bool) or not (
        isinstance(expires_raw, int) or (isinstance(expires_raw, str) and expires_raw.isdigit())
    ):
        raise AuthFailure(PARAM_ERROR, f"params error: expires {expires_raw!r}")
    expires = int(expires_raw)
    if expires <= now_ms:
        raise AuthFailure(BAD_TIMESTAMP, f"Params Error: request expired, expires[{expires}] now[{now_ms}]")
    if not hmac.compare_digest(sign(secret, f"GET/realtime{expires_raw}"), signature.lower()):
        raise AuthFailure(BAD_SIGN, "Signature is invalid")
    return key
