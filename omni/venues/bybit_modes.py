"""Bybit venue, the account's rules, checked and set at start before any order: account type, margin mode, position
mode.

A mixin of ``bybit.BybitVenue``. The sizer's and the risk guard's liquidation checks assume isolated margin (each
position's loss is capped by its own margin), so OMNI never trades without it:
- ``/v5/account/info``: a classic account (``unifiedMarginStatus`` 1) is refused; on a unified trading account the
  margin mode is account wide.
- Not ``ISOLATED_MARGIN``: with ``venue.set_margin_mode`` (the default) and a flat account (no position, no open
  order), ``/v5/account/set-margin-mode`` sets it and ``/v5/account/info`` is read again to verify; otherwise the
  start is refused with what to do.
- One-way position mode with ``/v5/position/switch-mode`` (coin USDT, mode 0); 110025 (already set) is success.
- The key's account (``/v5/user/query-api`` ``userID``): which account a journal describes (``engine.scope``).
"""

from __future__ import annotations

from typing import Any

from omni.domain.errors import VenueError, VenueFatal
from omni.venues.bybit_codec import CATEGORY

ISOLATED = "ISOLATED_MARGIN"
CLASSIC_STATUS = 1  # unifiedMarginStatus of a classic account (docs/v5/enum)
ONE_WAY = 0


class BybitModes:
    #: the account's user id from ``/v5/user/query-api`` (which account a journal describes); None if unread
    user_id: str | None = None

    async def prepare_account(self) -> dict[str, Any]:
        """Check and set the account's type, margin mode and position mode; returns what was found and done.
        Raises ``VenueFatal`` with what to do when the account cannot be traded safely."""
        self.user_id = await self._user_id()
        info = await self._account_info()
        status = int(info.get("unifiedMarginStatus") or 0)
        found = str(info.get("marginMode") or "")
        done: dict[str, Any] = {"unified_margin_status": status, "margin_mode_found": found}
        if status == CLASSIC_STATUS:
            raise VenueFatal(
                "this Bybit account is a classic account (unifiedMarginStatus 1): OMNI trades a Unified Trading "
                "Account in isolated margin. Upgrade the account to UTA on Bybit (testnet or demo), then start again."
            )
        if found != ISOLATED:
            await self._set_isolated(found)
            again = str((await self._account_info()).get("marginMode") or "")
            if again != ISOLATED:
                raise VenueFatal(
                    f"Bybit accepted set-margin-mode {ISOLATED} but the account still reports {again!r}: not "
                    "trading without isolated margin. Set it by hand on Bybit (Account > margin mode) and start again."
                )
            done["margin_mode_set"] = ISOLATED
        try:
            await self.rest.call(
                self.http.switch_position_mode, "account", category=CATEGORY, coin="USDT", mode=ONE_WAY
            )  # fmt: skip  (110025, not modified, is in pybit's ignore_codes)
        except VenueError as e:
            raise VenueFatal(
                f"cannot set one-way position mode for USDT perpetuals ({e}): OMNI trades one-way positions only. "
                "Close the hedge-mode positions and orders, or switch to one-way mode on Bybit, and start again."
            ) from e
        done["position_mode"] = "one-way"
        self.account_modes = done
        self.log.info("account_modes", **done)
        return done

    async def _user_id(self) -> str | None:
        try:
            res = await self.rest.call(self.http.get_api_key_information, "account")
        except VenueError as e:  # the identity is then venue and host only: logged, not fatal
            self.log.warning("user_id_unknown", error=str(e))
            return None
        uid = res.get("userID") if isinstance(res, dict) else None
        return None if uid in (None, "") else str(uid)

    async def _account_info(self) -> dict[str, Any]:
        res = await self.rest.call(self.http.get_account_info, "account")
        return res if isinstance(res, dict) else {}

    async def _set_isolated(self, found: str) -> None:
        hint = (
            "OMNI needs isolated margin (its liquidation checks assume it); the margin mode of a unified account is "
            "account wide and Bybit changes it only while nothing is open"
        )
        if not self.set_margin_mode:
            raise VenueFatal(
                f"the account is in {found or 'an unknown'} margin mode and venue.set_margin_mode is false: {hint}. "
                "Set isolated margin on Bybit, or let OMNI set it (venue.set_margin_mode: true)."
            )
        positions = await self.rest.pages(self.http.get_positions, "account", category=CATEGORY, settleCoin="USDT",
                                          limit=200)  # fmt: skip
        held = sorted(p.get("symbol", "?") for p in positions if str(p.get("size") or "0") not in ("0", ""))
        orders = await self.rest.pages(self.http.get_open_orders, "account", category=CATEGORY, settleCoin="USDT",
                                       limit=50)  # fmt: skip
        if held or orders:
            raise VenueFatal(
                f"the account is in {found} margin mode with {len(held)} open position(s) {held[:5]} and "
                f"{len(orders)} open order(s): {hint}. Close them (or set isolated margin on Bybit), then start again."
            )
        try:
            await self.rest.call(self.http.set_margin_mode, "account", setMarginMode=ISOLATED)
        except VenueError as e:
            raise VenueFatal(f"Bybit refused set-margin-mode {ISOLATED} ({e}): {hint}.") from e
        self.log.warning("margin_mode_set", was=found, now=ISOLATED)
