"""User accounts and their refresh-token families."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from conveyor.domain.states import Role
from conveyor.errors import Conflict
from conveyor.store.schema import invites, refresh_tokens, users


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    password_hash: str
    role: Role
    disabled: bool
    credential_version: int
    created_at: datetime


def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        password_hash=row["password_hash"],
        role=Role(row["role"]),
        disabled=row["disabled"],
        credential_version=row["credential_version"],
        created_at=row["created_at"],
    )


async def create_user(conn: AsyncConnection, user: User) -> User:
    try:
        await conn.execute(
            insert(users).values(
                id=user.id,
                username=user.username,
                password_hash=user.password_hash,
                role=user.role.value,
                disabled=user.disabled,
                credential_version=user.credential_version,
                created_at=user.created_at,
            )
        )
    except IntegrityError as exc:
        raise Conflict("this username is taken") from exc
    return user


async def get_user(conn: AsyncConnection, user_id: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    return _user(row) if row else None


async def get_user_by_name(conn: AsyncConnection, username: str) -> User | None:
    stmt = select(users).where(users.c.username == username)
    row = (await conn.execute(stmt)).mappings().first()
    return _user(row) if row else None


async def list_users(conn: AsyncConnection, limit: int, offset: int) -> list[User]:
    stmt = select(users).order_by(users.c.created_at, users.c.id).limit(limit).offset(offset)
    return [_user(row) for row in (await conn.execute(stmt)).mappings()]


async def update_user(
    conn: AsyncConnection,
    user_id: str,
    *,
    role: Role | None = None,
    disabled: bool | None = None,
    password_hash: str | None = None,
) -> User | None:
    """Change an account; any change bumps its credential version, ending old tokens."""
    values: dict[str, object] = {"credential_version": users.c.credential_version + 1}
    if role is not None:
        values["role"] = role.value
    if disabled is not None:
        values["disabled"] = disabled
    if password_hash is not None:
        values["password_hash"] = password_hash
    stmt = update(users).where(users.c.id == user_id).values(**values).returning(*users.c)
    row = (await conn.execute(stmt)).mappings().first()
    return _user(row) if row else None


async def count_admins(conn: AsyncConnection) -> int:
    stmt = select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value)
    return int((await conn.execute(stmt)).scalar_one())


async def lock_active_admins(conn: AsyncConnection) -> list[str]:
    """The enabled admins' ids, row-locked on PostgreSQL: two admins demoting or
    disabling each other at once must not leave none."""
    stmt = select(users.c.id).where(users.c.role == Role.ADMIN.value, users.c.disabled.is_(False))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return [row.id for row in await conn.execute(stmt)]


async def rehash_password(conn: AsyncConnection, user_id: str, old: str, new: str) -> bool:
    """Store a stronger hash of the same password. Not a credential change: the
    version stays, so the tokens just issued with it stay good. Only if the hash is
    still the one verified (a concurrent password change wins)."""
    stmt = (
        update(users)
        .where(users.c.id == user_id, users.c.password_hash == old)
        .values(password_hash=new)
    )
    return bool((await conn.execute(stmt)).rowcount)


@dataclass(frozen=True, slots=True)
class Invite:
    code_hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_by: str | None
    used_at: datetime | None


async def create_invite(conn: AsyncConnection, invite: Invite) -> None:
    await conn.execute(
        insert(invites).values(
            code_hash=invite.code_hash,
            created_by=invite.created_by,
            created_at=invite.created_at,
            expires_at=invite.expires_at,
        )
    )


async def use_invite(conn: AsyncConnection, code_hash: str, user_id: str, now: datetime) -> bool:
    """Spend an invite for this account, once: a used or expired code changes nothing."""
    stmt = (
        update(invites)
        .where(
            invites.c.code_hash == code_hash,
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
        .values(used_by=user_id, used_at=now)
    )
    return bool((await conn.execute(stmt)).rowcount)


async def list_invites(conn: AsyncConnection, limit: int) -> list[Invite]:
    stmt = select(invites).order_by(invites.c.created_at.desc()).limit(limit)
    return [Invite(**dict(row)) for row in (await conn.execute(stmt)).mappings()]


@dataclass(frozen=True, slots=True)
class RefreshToken:
    jti: str
    family_id: str
    user_id: str
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


async def add_refresh_token(conn: AsyncConnection, token: RefreshToken, now: datetime) -> None:
    await conn.execute(
        insert(refresh_tokens).values(
            jti=token.jti,
            family_id=token.family_id,
            user_id=token.user_id,
            expires_at=token.expires_at,
            created_at=now,
        )
    )


async def use_refresh_token(
    conn: AsyncConnection, jti: str, now: datetime
) -> tuple[RefreshToken | None, bool]:
    """Mark a refresh token used. Returns it and whether this call was the first use.

    The guarded update makes two concurrent refreshes with one token impossible:
    exactly one of them sees ``used_at IS NULL``.
    """
    stmt = (
        update(refresh_tokens)
        .where(
            refresh_tokens.c.jti == jti,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None),
        )
        .values(used_at=now)
        .returning(*refresh_tokens.c)
    )
    row = (await conn.execute(stmt)).mappings().first()
    if row:
        return _refresh(row), True
    found = await conn.execute(select(refresh_tokens).where(refresh_tokens.c.jti == jti))
    existing = found.mappings().first()
    return (_refresh(existing) if existing else None), False


async def revoke_family(conn: AsyncConnection, family_id: str, now: datetime) -> None:
    await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def family_revoked(conn: AsyncConnection, family_id: str) -> bool:
    """Whether a login session was ended (logout or reuse detection revoke a family)."""
    stmt = (
        select(refresh_tokens.c.jti)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_not(None))
        .limit(1)
    )
    return (await conn.execute(stmt)).first() is not None


def _refresh(row: RowMapping) -> RefreshToken:
    return RefreshToken(
        jti=row["jti"],
        family_id=row["family_id"],
        user_id=row["user_id"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
        revoked_at=row["revoked_at"],
    )
