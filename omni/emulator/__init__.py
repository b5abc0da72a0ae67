"""L5a: a Bybit V5 emulator on 127.0.0.1 (REST + WebSocket) over omni.exchange and the Bybit codec.

Only ``omni.cli`` and tests import this package: it is a development tool, never part of the daemon. Layout:
``server.py`` (HTTP front, pacing, state file) with ``settings.py`` (its configuration and market), ``rest.py`` /
``rest_market.py`` / ``rest_common.py`` (endpoints), ``ws.py`` (sockets), ``auth.py``, ``chaos.py``;
``state.py`` (accounts over a market) with ``market.py`` (public market data), ``account.py``, ``ledger.py``
(transaction log), ``closed_pnl.py``; ``persist.py`` (``--state``), ``reference.py`` (which instruments, at what
prices), ``options.py`` (the CLI's start options).
"""
