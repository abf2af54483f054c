"""The wallet's settings refuse what would hand out free credits or never credit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conveyor.services.payments import build_provider
from conveyor.settings import Settings

SECRET = "s" * 40


def test_the_sandbox_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="not in production"):
        Settings(environment="production", jwt_secret=SECRET, wallet_sandbox=True)


@pytest.mark.parametrize("given", ["stripe_secret_key", "stripe_webhook_secret"])
def test_stripe_needs_both_keys(given: str) -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(**{given: "x"})


@pytest.mark.parametrize("value", [-1, 2**63])
def test_initial_credits_are_a_64_bit_count(value: int) -> None:
    with pytest.raises(ValidationError):
        Settings(wallet_initial_credits=value)


def test_the_provider_follows_the_settings() -> None:
    assert build_provider(Settings()) is None
    assert build_provider(Settings(wallet_sandbox=True)).name == "sandbox"  # type: ignore[union-attr]
    stripe = build_provider(Settings(stripe_secret_key="sk", stripe_webhook_secret="wh"))
    assert stripe is not None and stripe.name == "stripe"
    # The sandbox wins when both are configured: a developer's keys never take real money.
    both = Settings(wallet_sandbox=True, stripe_secret_key="sk", stripe_webhook_secret="wh")
    assert build_provider(both).name == "sandbox"  # type: ignore[union-attr]
