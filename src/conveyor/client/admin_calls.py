"""Admin calls of the SDK: the node registry, accounts and invites, statistics."""

from __future__ import annotations

from typing import Any

from conveyor.client.models import Node, User
from conveyor.client.requester import JsonDict, Requester


class AdminCalls(Requester):
    async def create_node(self, name: str, **spec: Any) -> Node:
        """Register a node; the answer carries its secret, shown this once."""
        body = {"name": name, **spec}
        return Node.from_json(await self.request("POST", "/nodes", json_body=body))

    async def list_nodes(self, **filters: str) -> list[Node]:
        data = await self.request("GET", "/nodes", params=filters)
        return [Node.from_json(n) for n in data["nodes"]]

    async def get_node(self, node_id: str) -> Node:
        return Node.from_json(await self.request("GET", f"/nodes/{node_id}"))

    async def update_node(self, node_id: str, **changes: Any) -> Node:
        return Node.from_json(await self.request("PATCH", f"/nodes/{node_id}", json_body=changes))

    async def delete_node(self, node_id: str) -> list[str]:
        """Remove a node; returns the ids of the tasks it held, now pending again."""
        data = await self.request("DELETE", f"/nodes/{node_id}")
        return list(data["released"]) if isinstance(data, dict) else []

    async def cleanup_nodes(self, dead_for_seconds: int) -> list[str]:
        """Remove nodes dead for longer than ``dead_for_seconds``; returns their ids."""
        body = {"dead_for_seconds": dead_for_seconds}
        data = await self.request("POST", "/nodes/cleanup", json_body=body)
        return list(data["deleted"])

    async def import_nodes(self, nodes: list[JsonDict]) -> list[JsonDict]:
        """Create pull nodes with the secrets given (``{node_id, node_secret, is_active?}``)."""
        data = await self.request("POST", "/nodes/import", json_body={"nodes": nodes})
        return list(data["nodes"])

    async def list_users(self, limit: int = 100, offset: int = 0) -> list[User]:
        """Accounts (admins), oldest first."""
        data = await self.request("GET", "/admin/users", params={"limit": limit, "offset": offset})
        return [User.from_json(u) for u in data["users"]]

    async def update_user(
        self, user_id: str, *, disabled: bool | None = None, role: str | None = None
    ) -> User:
        """Disable or enable an account, or change its role; its tokens end at once."""
        body = {k: v for k, v in {"disabled": disabled, "role": role}.items() if v is not None}
        return User.from_json(
            await self.request("PATCH", f"/admin/users/{user_id}", json_body=body)
        )

    async def reset_password(self, user_id: str, password: str | None = None) -> str | None:
        """Set a password, or have one generated: returned (only) in that case."""
        body = {"password": password} if password is not None else {}
        path = f"/admin/users/{user_id}/reset-password"
        data = await self.request("POST", path, json_body=body)
        generated = data.get("password")
        return str(generated) if generated is not None else None

    async def create_invite(self, expires_in_seconds: int | None = None) -> JsonDict:
        """An invite code for CONVEYOR_REGISTRATION=invite: ``{code, expires_at}``."""
        body = {"expires_in_seconds": expires_in_seconds} if expires_in_seconds else {}
        return dict(await self.request("POST", "/admin/invites", json_body=body))

    async def stats(self) -> JsonDict:
        result: JsonDict = await self.request("GET", "/admin/stats")
        return result
