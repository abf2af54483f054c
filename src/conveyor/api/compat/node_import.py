"""``POST /api/v1/nodes/import``: admins bring a fleet with the secrets it already has."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictBool

from conveyor.api.deps import AdminPrincipal, ServicesDep
from conveyor.api.errors import error_responses
from conveyor.api.input import CheckedRoute
from conveyor.api.schemas.common import Identifier, Strict, Text
from conveyor.services.node_import import ImportedNode, import_nodes

router = APIRouter(
    route_class=CheckedRoute,
    prefix="/nodes",
    tags=["nodes"],
    responses=error_responses(400, 401, 403, 409),
)


class ImportItem(Strict):
    node_id: Identifier
    node_secret: Annotated[Text, Field(min_length=8, max_length=256)]
    is_active: StrictBool = True
    name: Annotated[Text, Field(max_length=200)] | None = None


class ImportIn(Strict):
    nodes: Annotated[list[ImportItem], Field(min_length=1, max_length=1000)]


class ImportedOut(BaseModel):
    node_id: str
    status: str


class ImportOut(BaseModel):
    nodes: list[ImportedOut]


@router.post("/import", status_code=201)
async def import_fleet(body: ImportIn, who: AdminPrincipal, services: ServicesDep) -> ImportOut:
    """Create pull nodes with the secrets given (stored hashed, never shown again).

    All or nothing: a taken id is ``409`` and nothing is created."""
    items = [ImportedNode(n.node_id, n.node_secret, n.is_active, n.name) for n in body.nodes]
    created = await import_nodes(services.rt, who, items)
    return ImportOut(nodes=[ImportedOut(node_id=n.id, status=n.status.value) for n in created])
