"""Market history on disk: download from Bybit (``download.py``), convert CSV <-> the Parquet store (``convert.py``),
and say what is stored (``manifest.py``). The store's layout and readers live in ``omni.venues.store``."""
