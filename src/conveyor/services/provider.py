"""The provider's side of the marketplace: what its nodes run now and were paid for.

Who sees what: a user sees the work of the nodes it owns, an admin that of every
node. The answer names the tasks (type, job, chunk, node, timings, the latest
progress report its own node sent) but never their params or results: those belong
to the customer who submitted them, and ``GET /tasks/{id}`` keeps answering the
provider ``404`` for them as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conveyor.domain.access import Principal
from conveyor.errors import Forbidden
from conveyor.services.runtime import Runtime
from conveyor.store import nodes as node_store
from conveyor.store import provider_work
from conveyor.store.provider_work import ChunkFacts, RunningRow


@dataclass(frozen=True, slots=True)
class PaidChunk:
    task_id: str
    earned: int
    paid_at: datetime
    facts: ChunkFacts | None


@dataclass(frozen=True, slots=True)
class ProviderWork:
    running: list[RunningRow]
    paid: list[PaidChunk]


class ProviderService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def work(self, who: Principal, running_limit: int, paid_limit: int) -> ProviderWork:
        if who.is_node:
            raise Forbidden("this is for users and admins, not nodes")
        async with self.rt.db.read() as conn:
            node_ids: list[str] | None = None
            if not who.is_admin:
                node_ids = [n.id for n in await node_store.list_nodes(conn, owner_id=who.id)]
            running = await provider_work.running_on(conn, node_ids, running_limit)
            paid = await provider_work.latest_paid(conn, who.id, paid_limit)
            facts = await provider_work.chunk_facts(conn, [p.task_id for p in paid])
        return ProviderWork(
            running=running,
            paid=[PaidChunk(p.task_id, p.earned, p.paid_at, facts.get(p.task_id)) for p in paid],
        )
