"""The one error tree of OMNI.

OmniError
├── ConfigError        a config file or environment value is wrong (names the field path)
├── DataError          a market-data file is unusable (names the file and line)
├── RiskRejected       the risk guard refused an order (names the limit)
└── VenueError         a venue call failed
    ├── VenueRetryable   safe to retry (timeouts, rate limits, 10002 clock skew)
    └── VenueFatal       not safe to retry (bad request, auth, business reject)

Only VenueRetryable is ever retried automatically.
"""

from __future__ import annotations


class OmniError(Exception):
    """Base of every error OMNI raises on purpose."""


class ConfigError(OmniError):
    """A configuration value is wrong; ``errors`` lists (path, value, message)."""

    def __init__(self, source: str, errors: list[tuple[str, object, str]]):
        self.source = source
        self.errors = errors
        lines = [f"{source}: {len(errors)} error(s)"]
        lines += [f"  {path}: {msg} (got {value!r})" for path, value, msg in errors]
        super().__init__("\n".join(lines))


class DataError(OmniError):
    """A market-data file is unusable; the daemon refuses to trade on it."""

    def __init__(self, path: str, line: int | None, reason: str):
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class RiskRejected(OmniError):
    """The risk guard refused an order."""


class VenueError(OmniError):
    """A venue call failed."""

    def __init__(self, message: str, code: int | None = None):
        self.code = code
        super().__init__(message if code is None else f"[{code}] {message}")


class VenueRetryable(VenueError):
    """Safe to retry: nothing happened on the venue, or the retry is idempotent."""


class VenueFatal(VenueError):
    """Not safe to retry."""
