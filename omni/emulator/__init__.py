"""L5a: a Bybit V5 emulator on 127.0.0.1 (REST now, WebSocket next) over omni.exchange and the Bybit codec.

Only ``omni.cli`` and tests import this package: it is a development tool, never part of the daemon.
"""
