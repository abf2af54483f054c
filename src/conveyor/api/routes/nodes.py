"""``/nodes``: the registry, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from conveyor.api.deps import AdminPrincipal, ServicesDep
from conveyor.api.errors import error_responses
from conveyor.api.schemas.nodes import (
    NodeCreate,
    NodeCreated,
    NodeList,
    NodeOut,
    NodeUpdate,
    NodeUpdated,
)
from conveyor.domain.states import NodeHealth, NodeKind, NodeStatus
from conveyor.services.nodes import NodeChanges, NodeSpec

router = APIRouter(prefix="/nodes", tags=["nodes"], responses=error_responses(400, 401, 403, 404))


@router.post("", status_code=201, responses=error_responses(409))
async def register_node(
    body: NodeCreate, who: AdminPrincipal, services: ServicesDep
) -> NodeCreated:
    """Register a node. Its secret is in this answer and nowhere else, ever."""
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
    who: AdminPrincipal,
    services: ServicesDep,
    kind: Annotated[NodeKind | None, Query()] = None,
    status: Annotated[NodeStatus | None, Query()] = None,
    health: Annotated[NodeHealth | None, Query()] = None,
) -> NodeList:
    nodes = await services.nodes.list(who, kind, status, health)
    return NodeList(nodes=[NodeOut.of(n) for n in nodes])


@router.get("/{node_id}")
async def get_node(node_id: str, who: AdminPrincipal, services: ServicesDep) -> NodeOut:
    return NodeOut.of(await services.nodes.get(who, node_id))


@router.patch("/{node_id}")
async def update_node(
    node_id: str, body: NodeUpdate, who: AdminPrincipal, services: ServicesDep
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
