"""The pipeline stamps its entries' stop trigger (config risk.stop_trigger, default MarkPrice) on the intents."""

from __future__ import annotations

from dataclasses import replace

from omni.core.pipeline import PipelineParams
from omni.domain.orders import TriggerBy
from tests.unit.core.test_pipeline import GHOST, SIZER, Rig, trend


def test_entries_trigger_their_stops_on_the_mark_price_by_default():
    assert PipelineParams(SIZER, GHOST).stop_trigger is TriggerBy.MARK_PRICE
    [d] = Rig({"BTCUSDT": trend("BTCUSDT")}).run()
    assert d.verdict == "approved" and d.intent.stop_trigger is TriggerBy.MARK_PRICE


def test_entries_trigger_on_the_last_price_when_configured():
    rig = Rig({"BTCUSDT": trend("BTCUSDT")})
    rig.pipeline.params = replace(rig.pipeline.params, stop_trigger=TriggerBy.LAST_PRICE)
    [d] = rig.run()
    assert d.verdict == "approved" and d.intent.stop_trigger is TriggerBy.LAST_PRICE
    assert d.intent.stop_loss is not None and d.intent.take_profit is not None
