"""Node registry models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from conveyor.api.schemas.common import (
    Identifier,
    Integral,
    Labels,
    Strict,
    TaskType,
    Text,
    text_ok,
)
from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeKind, NodeStatus
from conveyor.services.nodes import NodeView

Url = Annotated[
    StrictStr, Field(max_length=2000, pattern=r"^https?://[^\u0000]*$"), AfterValidator(text_ok)
]


class NodeCreate(Strict):
    # The service refuses a push node without a url; say so where clients look.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"kind": {"const": "push"}}, "required": ["kind"]},
            "then": {"properties": {"url": {"type": "string"}}, "required": ["url"]},
        },
    )

    node_id: Identifier | None = None
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    kind: NodeKind = NodeKind.PULL
    url: Url | None = None
    task_types: Annotated[list[TaskType], Field(max_length=100)] = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=100000), Integral] = 100
    owner_id: Identifier | None = None


class NodeUpdate(Strict):
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    status: NodeStatus | None = None
    url: Url | None = None
    task_types: Annotated[list[TaskType], Field(max_length=100)] | None = None
    labels: Labels | None = None
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=100000), Integral] | None = None
    rotate_secret: StrictBool = False


class NodeOut(BaseModel):
    node_id: str
    name: str
    kind: str
    url: str | None
    task_types: list[str]
    labels: dict[str, str]
    max_concurrency: int
    owner_id: str | None
    status: str
    health: str
    last_seen: datetime | None
    load: dict[str, Any] | None
    consecutive_failures: int
    created_at: datetime
    in_flight: int | None = None
    finished: int | None = None

    @classmethod
    def view(cls, view: NodeView) -> NodeOut:
        return cls.of(view.node).model_copy(
            update={"in_flight": view.in_flight, "finished": view.finished}
        )

    @classmethod
    def of(cls, node: Node) -> NodeOut:
        return cls(
            node_id=node.id,
            name=node.name,
            kind=node.kind.value,
            url=node.url,
            task_types=node.task_types,
            labels=node.labels,
            max_concurrency=node.max_concurrency,
            owner_id=node.owner_id,
            status=node.status.value,
            health=node.health.value,
            last_seen=node.last_seen,
            load=node.load,
            consecutive_failures=node.consecutive_failures,
            created_at=node.created_at,
        )


class NodeCreated(NodeOut):
    node_secret: str


class NodeUpdated(NodeOut):
    node_secret: str | None = None


class NodeList(BaseModel):
    nodes: list[NodeOut]


class RuntimesIn(Strict):
    runtimes: Annotated[
        list[Literal["python", "node"]], Field(max_length=10, description="what it runs now")
    ]


class RuntimesOut(BaseModel):
    node_id: str
    labels: dict[str, str]


class NodeCleanup(Strict):
    dead_for_seconds: Annotated[StrictInt, Field(ge=0, le=10**9), Integral]


class NodeCleanupResult(BaseModel):
    deleted: list[str]


class NodeDeleted(BaseModel):
    node_id: str
    released: list[str]
