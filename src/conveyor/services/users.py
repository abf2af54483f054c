"""Account administration: list, disable and enable, change role, reset a password,
and the invite codes of invite-only registration. Admins only.

Every credential change bumps the account's credential version in the same write
(store/users.py ``update_user``) and is announced on the bus, so the account's
tokens stop working on every replica at once, not at their expiry. No change may
leave the service without an enabled admin.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from conveyor.domain.access import Principal
from conveyor.domain.states import Role
from conveyor.errors import Conflict, Forbidden, NotFound
from conveyor.services.auth import check_password, invite_hash
from conveyor.services.credentials import user_key
from conveyor.services.runtime import Runtime
from conveyor.store import users as user_store
from conveyor.store.users import Invite, User

GENERATED_PASSWORD_BYTES = 18


@dataclass(frozen=True, slots=True)
class NewInvite:
    code: str  # shown once
    expires_at: datetime


class UserAdminService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def list_users(self, who: Principal, limit: int, offset: int) -> list[User]:
        _require_admin(who)
        async with self.rt.db.read() as conn:
            return await user_store.list_users(conn, limit, offset)

    async def get(self, who: Principal, user_id: str) -> User:
        _require_admin(who)
        async with self.rt.db.read() as conn:
            user = await user_store.get_user(conn, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found", code="user_not_found")
        return user

    async def update(
        self, who: Principal, user_id: str, *, disabled: bool | None, role: Role | None
    ) -> User:
        _require_admin(who)
        if role is Role.NODE:
            raise Conflict("a user cannot become a node; register a node instead")
        async with self.rt.db.write() as conn:
            admins = await user_store.lock_active_admins(conn)
            current = await user_store.get_user(conn, user_id)
            if current is None:
                raise NotFound(f"user {user_id} not found", code="user_not_found")
            stays_admin = (role or current.role) is Role.ADMIN and not (
                current.disabled if disabled is None else disabled
            )
            if admins == [user_id] and not stays_admin:
                raise Conflict("this is the last enabled admin", code="last_admin")
            if disabled is None and role in (None, current.role):
                return current  # nothing changes: no new credential version either
            updated = await user_store.update_user(conn, user_id, role=role, disabled=disabled)
        assert updated is not None
        self.rt.credentials.announce(self.rt.bus, principal=user_key(user_id))
        return updated

    async def reset_password(
        self, who: Principal, user_id: str, password: str | None
    ) -> tuple[User, str | None]:
        """Set a new password (or generate one, returned once); every token of the
        account dies with the old one."""
        _require_admin(who)
        generated = None
        if password is None:
            password = generated = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
        check_password(password)
        hashed = await self.rt.hasher.ahash(password)
        async with self.rt.db.write() as conn:
            updated = await user_store.update_user(conn, user_id, password_hash=hashed)
        if updated is None:
            raise NotFound(f"user {user_id} not found", code="user_not_found")
        self.rt.credentials.announce(self.rt.bus, principal=user_key(user_id))
        return updated, generated

    async def create_invite(self, who: Principal, ttl_seconds: int | None) -> NewInvite:
        _require_admin(who)
        code = secrets.token_urlsafe(20)
        now = self.rt.clock.now()
        expires = now + timedelta(seconds=ttl_seconds or self.rt.settings.invite_ttl_seconds)
        invite = Invite(invite_hash(code), who.id, now, expires, None, None)
        async with self.rt.db.write() as conn:
            await user_store.create_invite(conn, invite)
        return NewInvite(code, expires)

    async def list_invites(self, who: Principal, limit: int) -> list[Invite]:
        _require_admin(who)
        async with self.rt.db.read() as conn:
            return await user_store.list_invites(conn, limit)


def _require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("admins only")
