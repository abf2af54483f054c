"""``/nodes``: the registry; admins manage every node, users the nodes they own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.api.deps import AdminPrincipal, ServicesDep, UserPrincipal
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.params import Id, LabelQuery
from conveyor.api.schemas.nodes import (
    NodeCleanup,
    NodeCleanupResult,
    NodeCreate,
    NodeCreated,
    NodeDeleted,
    NodeList,
    NodeOut,
    NodeUpdate,
    NodeUpdated,
)
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus
from conveyor.services.nodes import NodeChanges, NodeFilter, NodeSpec

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/nodes",
    tags=["nodes"],
    responses=error_responses(400, 401, 403, 404),
)


@router.post("", status_code=201, responses=error_responses(409))
async def register_node(body: NodeCreate, who: UserPrincipal, services: ServicesDep) -> NodeCreated:
    """Register a node. Its secret is in this answer and nowhere else, ever.

    A user registers a pull node of its own (up to ``CONVEYOR_MAX_NODES_PER_USER``):
    it takes job chunks and its owner's own tasks, and its earnings go to its owner."""
    spec = NodeSpec(
        name=body.name,
        kind=body.kind,
        node_id=body.node_id,
        url=body.url,
        task_types=list(body.task_types),
        labels=dict(body.labels),
        max_concurrency=body.max_concurrency,
        owner_id=body.owner_id,
    )
    node, secret = await services.nodes.register(who, spec)
    return NodeCreated(**NodeOut.of(node).model_dump(), node_secret=secret)


@router.get("")
async def list_nodes(
    who: UserPrincipal,
    services: ServicesDep,
    kind: Annotated[NodeKind | None, Query()] = None,
    status: Annotated[NodeStatus | None, Query()] = None,
    health: Annotated[NodeHealth | None, Query()] = None,
    task_type: Annotated[str | None, Query(max_length=100)] = None,
    label: LabelQuery = "",
) -> NodeList:
    """Nodes with their health, tasks held now (``in_flight``) and completed (``finished``).
    Users see the nodes they own."""
    flt = NodeFilter(kind, status, health, task_type, _label(label))
    views = await services.nodes.list(who, flt)
    return NodeList(nodes=[NodeOut.view(v) for v in views])


def _label(raw: str) -> tuple[str, str] | None:
    # ``LabelQuery``'s pattern has made sure of a key and an "=".
    if not raw:
        return None
    key, _, value = raw.partition("=")
    return key, value


@router.post("/cleanup")
async def cleanup_nodes(
    body: NodeCleanup, who: AdminPrincipal, services: ServicesDep
) -> NodeCleanupResult:
    """Delete nodes that have been dead for longer than ``dead_for_seconds``."""
    return NodeCleanupResult(deleted=await services.nodes.cleanup(who, body.dead_for_seconds))


@router.get("/{node_id}")
async def get_node(node_id: Id, who: UserPrincipal, services: ServicesDep) -> NodeOut:
    return NodeOut.view(await services.nodes.view(who, node_id))


@router.delete("/{node_id}")
async def delete_node(node_id: Id, who: UserPrincipal, services: ServicesDep) -> NodeDeleted:
    """Remove a node; the tasks it holds go back to pending at once (no attempt charged)."""
    released = await services.nodes.delete(who, node_id)
    return NodeDeleted(node_id=node_id, released=released)


@router.patch("/{node_id}")
async def update_node(
    node_id: Id, body: NodeUpdate, who: UserPrincipal, services: ServicesDep
) -> NodeUpdated:
    changes = NodeChanges(
        status=body.status,
        task_types=list(body.task_types) if body.task_types is not None else None,
        labels=dict(body.labels) if body.labels is not None else None,
        max_concurrency=body.max_concurrency,
        name=body.name,
        url=body.url,
        rotate_secret=body.rotate_secret,
    )
    node, secret = await services.nodes.update(who, node_id, changes)
    return NodeUpdated(**NodeOut.of(node).model_dump(), node_secret=secret)
