"""Small state kept on disk between runs: the kill switch latch, and the forecast recalibration's folds.

Written atomically (temp file + rename), so a crash never leaves a half-written latch. A tripped kill switch
stays tripped across restarts until a person resets it (``omni reset-kill-switch`` or ``omni run
--reset-kill-switch``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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


def calibration_writer(path: Path, log: Any) -> Callable[[Any], None]:
    """The walk-forward calibration's state (each fold's map and whether it is on) into the state directory."""

    def write(wf: Any) -> None:  # omni.core.recalibration.WalkForwardCalibration
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(wf.to_dict(), indent=2) + "\n")
            tmp.replace(path)
        except OSError as e:
            log.warning("calibration_not_saved", path=str(path), error=repr(e))
        cur = wf.current
        if cur is not None:
            log.info("calibration_fold", fold=cur.fold, n_fit=cur.n_fit, active=cur.active, gain=cur.gain)

    return write
