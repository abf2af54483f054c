"""The fee rule (docs/wallet.md): the platform's share is floored, the earner gets
the rest, so a split never makes or loses a credit, for any 64-bit price."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.domain.ledger import MAX_AMOUNT, Settlement, balanced, split_fee

prices = st.integers(min_value=1, max_value=MAX_AMOUNT)
percents = st.integers(min_value=0, max_value=100)


@given(prices, percents)
def test_fee_and_earnings_add_up_to_the_price(price: int, percent: int) -> None:
    split = split_fee(price, percent)
    assert split.fee + split.earned == price
    assert 0 <= split.fee <= price
    # Floored: the exact share, rounded down, never up.
    assert split.fee * 100 <= price * percent < (split.fee + 1) * 100


@given(prices, percents)
def test_a_settlement_posting_balances(price: int, percent: int) -> None:
    split = split_fee(price, percent)
    postings = [("reserved:c", -price), ("earned:e", split.earned), ("platform", split.fee)]
    assert balanced([p for p in postings if p[1]])


def test_examples() -> None:
    assert split_fee(33, 10) == Settlement(earned=30, fee=3)
    assert split_fee(9, 10) == Settlement(earned=9, fee=0)
    assert split_fee(1, 100) == Settlement(earned=0, fee=1)


@pytest.mark.parametrize("price, percent", [(0, 10), (-1, 10), (5, -1), (5, 101), (2**63, 1)])
def test_out_of_range_is_refused(price: int, percent: int) -> None:
    with pytest.raises(ValueError):
        split_fee(price, percent)
