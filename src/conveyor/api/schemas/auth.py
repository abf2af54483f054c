"""Auth request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictStr

from conveyor.api.schemas.common import NO_NUL, Strict, Text
from conveyor.services.auth import MAX_PASSWORD, MIN_PASSWORD, USERNAME
from conveyor.store.users import User

Secret = Annotated[StrictStr, Field(min_length=1, max_length=1024, pattern=NO_NUL)]


class RegisterIn(Strict):
    # The service's own rules, stated so that OpenAPI clients can check before sending.
    username: Annotated[StrictStr, Field(pattern=USERNAME.pattern)]
    password: Annotated[Text, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
    # Needed when CONVEYOR_REGISTRATION=invite.
    invite_code: Annotated[Text, Field(min_length=1, max_length=128)] | None = None


class LoginIn(Strict):
    username: Annotated[Text, Field(max_length=64)]
    password: Secret


class RefreshIn(Strict):
    refresh_token: Secret


class NodeLoginIn(Strict):
    node_id: Annotated[Text, Field(max_length=64)]
    node_secret: Secret


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str | None = None
    token_type: str = "bearer"
    expires_in: int
    role: str
    # Seed 000's clients read ``token``; it is the access token.
    token: str


class UserOut(BaseModel):
    user_id: str
    username: str
    role: str
    disabled: bool
    created_at: datetime | None = None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.id,
            username=user.username,
            role=user.role.value,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class StreamTicketOut(BaseModel):
    ticket: str
    expires_in: int
