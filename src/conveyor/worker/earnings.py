"""What a marketplace worker has earned, shown as it goes.

After each batch of completed chunks the worker reads the user's wallet: the
ledger's ``settle`` transactions whose ref is ``chunk:<task_id>`` of a chunk this
process completed give the credits it earned this session (its share after the
platform's fee, exactly as paid), and ``GET /wallet`` the earned total of every
node of the user. Each report is one Rich line:

    chunks done 3 · earned this session 27 credits · wallet earned 54

With JSON logs (``CONVEYOR_LOG_JSON``) each report is an ``earnings`` event with
``chunks_done``, ``earned_session`` and ``wallet_earned`` instead.

A completed task that never pays (a free job, the user's own task) stops being
looked for after a few reports.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from rich.console import Console

from conveyor.client.async_client import AsyncClient
from conveyor.client.errors import ApiError, ConveyorClientError
from conveyor.client.models import FinishResult, Wallet, WalletTransaction
from conveyor.observability.logging import get_logger
from conveyor.worker.marketplace import UserCall
from conveyor.worker.runner import Stats, WorkerRunner

log = get_logger("conveyor.worker.earnings")
# Newest transactions read per report: a chunk's settle is among them unless the
# user's other nodes were paid this many times since.
PAGE = 200
LOOKS = 5
SETTLE_PREFIX = "chunk:"


class Earnings:
    def __init__(
        self, call: UserCall[Any], console: Console | None = None, *, as_log: bool = False
    ) -> None:
        self.call = call
        self.console = console or Console(highlight=False)
        # With JSON logs (CONVEYOR_LOG_JSON) the line is an ``earnings`` log event.
        self.as_log = as_log
        self.chunks = 0
        self.credits = 0
        self.wallet_earned: int | None = None
        # Completed here, settle not seen yet: task id -> reports left to look.
        self._unpaid: dict[str, int] = {}
        self._due = asyncio.Event()

    def completed(self, task_ids: Iterable[str]) -> None:
        for task_id in task_ids:
            self.chunks += 1
            self._unpaid[task_id] = LOOKS
            self._due.set()

    @property
    def owed(self) -> bool:
        """Whether some completed chunk's pay has not been seen yet."""
        return bool(self._unpaid)

    def line(self) -> str:
        total = "?" if self.wallet_earned is None else str(self.wallet_earned)
        return (
            f"chunks done {self.chunks} · earned this session {self.credits} credits"
            f" · wallet earned {total}"
        )

    async def report(self) -> None:
        async def read(client: AsyncClient) -> tuple[list[WalletTransaction], Wallet]:
            page, _ = await client.transactions(limit=PAGE)
            return page, await client.wallet()

        try:
            page, wallet = await self.call(read)
        except ConveyorClientError as exc:
            log.warning("wallet not readable; earnings line skipped", error=str(exc))
            return
        for tx in page:
            task_id = tx.ref.removeprefix(SETTLE_PREFIX)
            if tx.kind == "settle" and tx.ref.startswith(SETTLE_PREFIX) and task_id in self._unpaid:
                self.credits += tx.earned
                del self._unpaid[task_id]
        for task_id in list(self._unpaid):
            self._unpaid[task_id] -= 1
            if self._unpaid[task_id] <= 0:
                del self._unpaid[task_id]
        self.wallet_earned = wallet.earned
        if self.as_log:
            log.info(
                "earnings",
                chunks_done=self.chunks,
                earned_session=self.credits,
                wallet_earned=self.wallet_earned,
            )
        else:
            self.console.print(self.line())

    async def run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            await self.report()


class MarketplaceRunner(WorkerRunner):
    """The worker loop, plus the earnings line after the chunks it completes."""

    def __init__(self, *args: Any, earnings: Earnings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.earnings = earnings

    def _record(self, finished: list[FinishResult]) -> None:
        super()._record(finished)
        self.earnings.completed(f.task_id for f in finished if f.ok and f.status == "completed")

    async def run(self) -> Stats:
        reporter = asyncio.create_task(self.earnings.run(), name="earnings")
        try:
            return await super().run()
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError, ApiError):
                await reporter
            if self.earnings.owed:
                # The last results went out in the final flush: one last line.
                await self.earnings.report()
