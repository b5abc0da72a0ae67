"""Small latched state kept on disk between runs: the kill switch.

Written atomically (temp file + rename), so a crash never leaves a half-written latch. A tripped kill switch
stays tripped across restarts until a person resets it (``omni reset-kill-switch`` or ``omni run
--reset-kill-switch``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path


class KillSwitchLatch:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "kill_switch.json"

    def load(self) -> str | None:
        """The latched reason, or None. An unreadable latch counts as tripped (fail safe)."""
        if not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text())
            return str(data["reason"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            return f"unreadable kill-switch latch {self.path} ({e}); treated as tripped"

    def trip(self, reason: str, market_ts: int | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        payload = {"reason": reason, "tripped_at": datetime.now(UTC).isoformat(), "market_ts": market_ts}
        tmp.write_text(json.dumps(payload) + "\n")
        os.replace(tmp, self.path)

    def reset(self) -> str | None:
        """Clear the latch; returns the reason it held (None if it was not tripped)."""
        reason = self.load()
        self.path.unlink(missing_ok=True)
        return reason
