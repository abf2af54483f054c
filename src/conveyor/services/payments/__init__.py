"""Payment providers behind one interface (base.py): the sandbox and Stripe."""

from __future__ import annotations

from conveyor.services.payments.base import PaymentProvider
from conveyor.settings import Settings


def build_provider(settings: Settings) -> PaymentProvider | None:
    """The sandbox when enabled, else Stripe when configured, else none (deposits refused)."""
    if settings.wallet_sandbox:
        from conveyor.services.payments.sandbox import SandboxProvider

        return SandboxProvider()
    if settings.stripe_secret_key is not None:
        # Imported only here: the ``stripe`` library is the optional extra conveyor[stripe].
        from conveyor.services.payments.stripe import StripeProvider

        return StripeProvider(settings)
    return None
