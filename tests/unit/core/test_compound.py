"""CompoundController: a trade's margin share is a fraction of equity, capped by what is available and the cap."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from omni.core.compound import CompoundController


def test_budget_is_the_fraction_of_equity():
    assert CompoundController(D("0.25")).margin_budget(D(1000), D(1000)) == D(250)


def test_budget_is_capped_by_available():
    assert CompoundController(D("0.5")).margin_budget(D(1000), D(120)) == D(120)


def test_budget_is_capped_by_the_absolute_cap():
    assert CompoundController(D("0.5"), D(100)).margin_budget(D(1000), D(1000)) == D(100)


def test_smallest_of_fraction_available_and_cap_wins():
    ctl = CompoundController(D("0.5"), D(300))
    assert ctl.margin_budget(D(1000), D(1000)) == D(300)  # cap
    assert ctl.margin_budget(D(400), D(1000)) == D(200)  # fraction
    assert ctl.margin_budget(D(1000), D(50)) == D(50)  # available


@pytest.mark.parametrize(("equity", "available"), [(D(0), D(100)), (D(-5), D(100)), (D(100), D(0)), (D(100), D(-1))])
def test_budget_is_zero_when_equity_or_available_is_not_positive(equity, available):
    assert CompoundController(D("0.5"), D(100)).margin_budget(equity, available) == 0


def test_profits_are_reinvested_and_losses_shrink_the_budget():
    # Arrange
    ctl = CompoundController(D("0.1"))
    start = ctl.margin_budget(D(1000), D(1000))
    # Act
    after_win = ctl.margin_budget(D(1100), D(1100))
    after_loss = ctl.margin_budget(D(900), D(900))
    # Assert
    assert (after_loss, start, after_win) == (D(90), D(100), D(110))
