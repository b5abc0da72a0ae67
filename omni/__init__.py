"""OMNI: an honest paper-trading daemon for Bybit USDT-margined linear perpetuals."""

__version__ = "0.1.0"
