from __future__ import annotations

from tests.store.conftest import db

__all__ = ["db"]
