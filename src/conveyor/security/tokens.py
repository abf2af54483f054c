"""JWT access, refresh and stream tokens (PyJWT, HS256 pinned).

Verification is strict: the algorithm list is fixed (so ``alg: none`` or an
RS/HS confusion cannot pass), and ``exp``, ``iat``, ``iss``, ``aud``, ``typ``,
``sub`` and ``jti`` are all required. Every failure is the same ``Unauthorized``
without detail, so the error does not help someone forging tokens.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from conveyor.clock import Clock, SystemClock
from conveyor.errors import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "typ", "role"]
RESERVED = {"exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ", "role"}
LEEWAY_SECONDS = 5


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    role: str
    typ: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


class TokenService:
    def __init__(self, secret: str, issuer: str, audience: str, clock: Clock | None = None) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the JWT secret must be at least 32 bytes")
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.clock = clock or SystemClock()

    def issue(
        self,
        sub: str,
        role: str,
        typ: str,
        ttl_seconds: int,
        extra: dict[str, Any] | None = None,
    ) -> IssuedToken:
        now = self.clock.now().replace(microsecond=0)
        expires = now + timedelta(seconds=ttl_seconds)
        jti = uuid.uuid4().hex
        payload: dict[str, Any] = {k: v for k, v in (extra or {}).items() if k not in RESERVED}
        payload.update(
            sub=sub,
            role=role,
            typ=typ,
            jti=jti,
            iss=self.issuer,
            aud=self.audience,
            iat=int(now.timestamp()),
            exp=int(expires.timestamp()),
        )
        token = jwt.encode(payload, self._secret, algorithm=ALGORITHM, headers={"typ": "JWT"})
        return IssuedToken(token, jti, now, expires)

    def verify(self, token: str, expected_typ: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid or expired token") from exc
        # Expiry and issue time are checked against our clock (not the wall clock)
        # so tests and the server agree on what "now" is.
        now = self.clock.now().timestamp()
        exp, iat = payload.get("exp"), payload.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise Unauthorized("invalid or expired token")
        if exp + LEEWAY_SECONDS <= now or iat - LEEWAY_SECONDS > now:
            raise Unauthorized("invalid or expired token")
        if payload.get("typ") != expected_typ:
            raise Unauthorized("invalid or expired token")
        sub, role, jti = payload.get("sub"), payload.get("role"), payload.get("jti")
        if not all(isinstance(v, str) and v for v in (sub, role, jti)):
            raise Unauthorized("invalid or expired token")
        extra = {k: v for k, v in payload.items() if k not in RESERVED}
        return Claims(
            sub=str(sub),
            role=str(role),
            typ=expected_typ,
            jti=str(jti),
            issued_at=datetime.fromtimestamp(iat, UTC),
            expires_at=datetime.fromtimestamp(exp, UTC),
            extra=extra,
        )
