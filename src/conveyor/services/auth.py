"""Accounts and tokens: register, login, refresh with reuse detection, node login,
and turning a bearer token back into a principal on every request."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from conveyor.domain.access import Principal
from conveyor.domain.nodes import Node
from conveyor.domain.states import NodeStatus, Role
from conveyor.errors import Conflict, InvalidInput, Unauthorized
from conveyor.security.tokens import LEEWAY_SECONDS, Claims
from conveyor.services.credentials import Cached, node_key, user_key
from conveyor.services.runtime import Runtime
from conveyor.store import ledger
from conveyor.store import nodes as node_store
from conveyor.store import tickets as ticket_store
from conveyor.store import users as user_store
from conveyor.store.database import Connection
from conveyor.store.users import RefreshToken, User

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 256
ACCESS, REFRESH, STREAM = "access", "refresh", "stream"
# The claim naming the login session (the refresh-token family) of an access token.
SESSION = "sid"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str | None
    expires_in: int
    role: str


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal, with its node record when it is a node."""

    principal: Principal
    node: Node | None = None


class AuthService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def register(self, username: str, password: str, role: Role = Role.USER) -> User:
        _check_credentials(username, password)
        user = User(
            id=str(uuid.uuid4()),
            username=username,
            password_hash=await self.rt.hasher.ahash(password),
            role=role,
            disabled=False,
            credential_version=1,
            created_at=self.rt.clock.now(),
        )
        async with self.rt.db.write() as conn:
            created = await user_store.create_user(conn, user)
            starting = self.rt.settings.wallet_initial_credits
            if starting and role is Role.USER:
                # In the registration's transaction: a user exists with its grant or not at all.
                await ledger.grant_initial(conn, user_id=user.id, amount=starting)
            return created

    async def ensure_admin(self, username: str, password: str) -> User:
        """The first admin, from the environment at start-up; idempotent across restarts."""
        async with self.rt.db.read() as conn:
            existing = await user_store.get_user_by_name(conn, username)
        if existing is None:
            try:
                return await self.register(username, password, Role.ADMIN)
            except Conflict:
                # Several replicas starting together race to create the admin;
                # the losers find the winner's account.
                async with self.rt.db.read() as conn:
                    existing = await user_store.get_user_by_name(conn, username)
                if existing is None:
                    raise
        if existing.role is not Role.ADMIN:
            async with self.rt.db.write() as conn:
                promoted = await user_store.update_user(conn, existing.id, role=Role.ADMIN)
            assert promoted is not None
            self.rt.credentials.announce(self.rt.bus, principal=user_key(existing.id))
            return promoted
        return existing

    async def login(self, username: str, password: str) -> TokenPair:
        async with self.rt.db.read() as conn:
            user = await user_store.get_user_by_name(conn, username)
        if user is None:
            # Spend the same time as a real check so timing does not reveal names.
            await self.rt.hasher.adummy_verify(password)
            raise Unauthorized("wrong username or password")
        if not await self.rt.hasher.averify(user.password_hash, password):
            raise Unauthorized("wrong username or password")
        if user.disabled:
            raise Unauthorized("this account is disabled")
        async with self.rt.db.write() as conn:
            return await self._issue_pair(conn, user, family_id=uuid.uuid4().hex)

    async def _issue_pair(self, conn: Connection, user: User, family_id: str) -> TokenPair:
        settings = self.rt.settings
        extra = {"cv": user.credential_version}
        # The session id makes logout and reuse detection end this session's access
        # tokens too, not only its refresh tokens.
        access = self.rt.tokens.issue(
            user.id,
            user.role.value,
            ACCESS,
            settings.access_token_ttl_seconds,
            {**extra, SESSION: family_id},
        )
        refresh = self.rt.tokens.issue(
            user.id,
            user.role.value,
            REFRESH,
            settings.refresh_token_ttl_seconds,
            {**extra, "fam": family_id},
        )
        record = RefreshToken(refresh.jti, family_id, user.id, refresh.expires_at, None, None)
        await user_store.add_refresh_token(conn, record, self.rt.clock.now())
        return TokenPair(
            access.token, refresh.token, settings.access_token_ttl_seconds, user.role.value
        )

    async def refresh(self, token: str) -> TokenPair:
        claims = self.rt.tokens.verify(token, REFRESH)
        now = self.rt.clock.now()
        async with self.rt.db.write() as conn:
            record, first_use = await user_store.use_refresh_token(conn, claims.jti, now)
            if record is None:
                raise Unauthorized("unknown refresh token")
            if not first_use:
                # A used token presented again means it was stolen (or the thief
                # came first): end the whole family so neither party keeps access.
                await user_store.revoke_family(conn, record.family_id, now)
                reuse = True
            else:
                reuse = False
                user = await self._live_user(conn, claims)
                pair = await self._issue_pair(conn, user, record.family_id)
        if reuse:
            self.rt.credentials.announce(self.rt.bus, session=record.family_id)
            raise Unauthorized("refresh token reuse detected; please log in again")
        return pair

    async def logout(self, token: str) -> None:
        claims = self.rt.tokens.verify(token, REFRESH)
        family = claims.extra.get("fam")
        if isinstance(family, str):
            async with self.rt.db.write() as conn:
                await user_store.revoke_family(conn, family, self.rt.clock.now())
            self.rt.credentials.announce(self.rt.bus, session=family)

    async def node_login(self, node_id: str, secret: str) -> TokenPair:
        async with self.rt.db.read() as conn:
            node = await node_store.get_node(conn, node_id)
        if node is None:
            await self.rt.hasher.adummy_verify(secret)
            raise Unauthorized("wrong node id or secret")
        if not await self.rt.hasher.averify(node.secret_hash, secret):
            raise Unauthorized("wrong node id or secret")
        if node.status is NodeStatus.DISABLED:
            raise Unauthorized("this node is disabled")
        ttl = self.rt.settings.access_token_ttl_seconds
        issued = self.rt.tokens.issue(
            node.id, Role.NODE.value, ACCESS, ttl, {"cv": node.credential_version}
        )
        return TokenPair(issued.token, None, ttl, Role.NODE.value)

    async def authenticate(self, token: str) -> Caller:
        """The caller behind an access token, usually without touching the database.

        The signature and claims are checked on every request; the principal's
        credential version and the session's revocation come from the credential
        cache, read from the database only when it does not know them.
        """
        claims = self.rt.tokens.verify(token, ACCESS)
        cache = self.rt.credentials
        key = node_key(claims.sub) if claims.role == Role.NODE.value else user_key(claims.sub)
        session = claims.extra.get(SESSION)
        session_id = session if isinstance(session, str) else None
        known = cache.principal(key)
        revoked = False if session_id is None else cache.session_revoked(session_id)
        if known is not None and revoked is not None:
            caller, version = known.value, known.credential_version
        else:
            caller, version, revoked = await self._look_up(claims, key, session_id, known, revoked)
        _check_version(claims, version)
        if revoked:
            raise Unauthorized("this token was revoked")
        assert isinstance(caller, Caller)
        return caller

    async def _look_up(
        self,
        claims: Claims,
        key: str,
        session_id: str | None,
        known: Cached[Any] | None,
        revoked: bool | None,
    ) -> tuple[Caller, int, bool]:
        """What the cache did not know, read in one snapshot and remembered."""
        cache = self.rt.credentials
        # Taken before reading: an invalidation arriving meanwhile stops the store.
        epoch = cache.epoch
        async with self.rt.db.read() as conn:
            if known is None:
                caller, version = await self._current(conn, claims)
                cache.remember_principal(key, version, caller, epoch)
            else:
                caller, version = known.value, known.credential_version
            if revoked is None:
                assert session_id is not None  # only a session can be unknown
                revoked = await user_store.family_revoked(conn, session_id)
                cache.remember_session(session_id, revoked, epoch)
        return caller, version, revoked

    async def authenticate_stream(self, ticket: str, task_id: str | None) -> Caller:
        """The caller behind a stream ticket: for this task (or any), and used only once."""
        claims = self.rt.tokens.verify(ticket, STREAM)
        scope = claims.extra.get("scope")
        if scope != "*" and scope != task_id:
            raise Unauthorized("this ticket is for another stream")
        # Kept past the ticket's own expiry leeway, so it cannot come back valid.
        keep_until = claims.expires_at + timedelta(seconds=LEEWAY_SECONDS)
        # One transaction: the ticket is spent only if its holder still checks out.
        async with self.rt.db.write() as conn:
            if not await ticket_store.use_once(conn, claims.jti, keep_until):
                raise Unauthorized("this ticket was already used")
            return await self._caller(conn, claims)

    async def _caller(self, conn: Connection, claims: Claims) -> Caller:
        caller, version = await self._current(conn, claims)
        _check_version(claims, version)
        return caller

    @staticmethod
    async def _current(conn: Connection, claims: Claims) -> tuple[Caller, int]:
        """The live principal a token names, with its current credential version."""
        if claims.role == Role.NODE.value:
            node = await node_store.get_node(conn, claims.sub)
            if node is None or node.status is NodeStatus.DISABLED:
                raise Unauthorized("this node is disabled or gone")
            return Caller(Principal(node.id, Role.NODE, node.name), node), node.credential_version
        user = await _active_user(conn, claims.sub)
        return Caller(Principal(user.id, user.role, user.username)), user.credential_version

    @staticmethod
    async def _live_user(conn: Connection, claims: Claims) -> User:
        user = await _active_user(conn, claims.sub)
        _check_version(claims, user.credential_version)
        return user

    async def stream_ticket(self, principal: Principal, task_id: str | None) -> str:
        """A short-lived token for one SSE connection from a browser (never the access token).

        It carries the credential version like an access token, so a password change
        or a disabled account also ends the tickets already handed out.
        """
        async with self.rt.db.read() as conn:
            user = await user_store.get_user(conn, principal.id)
        cv = user.credential_version if user is not None else 0
        extra: dict[str, str | int] = {"scope": task_id or "*", "cv": cv}
        ttl = self.rt.settings.stream_ticket_ttl_seconds
        return self.rt.tokens.issue(principal.id, principal.role.value, STREAM, ttl, extra).token


def _check_credentials(username: str, password: str) -> None:
    problems = []
    if not USERNAME.match(username):
        problems.append({"field": "username", "message": "3-64 letters, digits or _.@-"})
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems.append(
            {"field": "password", "message": f"{MIN_PASSWORD} to {MAX_PASSWORD} characters"}
        )
    if problems:
        raise InvalidInput("invalid credentials", details=problems)


async def _active_user(conn: Connection, user_id: str) -> User:
    user = await user_store.get_user(conn, user_id)
    if user is None or user.disabled:
        raise Unauthorized("this account is disabled or gone")
    return user


def _check_version(claims: Claims, credential_version: int) -> None:
    """A token issued before its credential last changed is dead."""
    if claims.extra.get("cv") != credential_version:
        raise Unauthorized("this token was revoked")
