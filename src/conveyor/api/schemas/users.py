"""Account administration request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from conveyor.api.schemas.auth import UserOut
from conveyor.api.schemas.common import Strict, Text
from conveyor.services.auth import MAX_PASSWORD, MIN_PASSWORD
from conveyor.store.users import Invite


class UserList(BaseModel):
    users: list[UserOut]
    next_offset: int | None


class UserPatch(Strict):
    disabled: StrictBool | None = None
    role: Literal["user", "admin"] | None = None


class PasswordReset(Strict):
    # Omitted: the server generates one and returns it, once.
    password: Annotated[Text, Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)] | None = None


class PasswordResetOut(BaseModel):
    user: UserOut
    password: str | None = Field(description="the generated password, shown only here")


class InviteIn(Strict):
    expires_in_seconds: Annotated[int, Field(ge=60, le=366 * 86400)] | None = None


class InviteOut(BaseModel):
    code: str = Field(description="shown only here; only its hash is kept")
    expires_at: datetime


class InviteInfo(BaseModel):
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_by: str | None
    used_at: datetime | None

    @classmethod
    def of(cls, invite: Invite) -> InviteInfo:
        return cls(
            created_by=invite.created_by,
            created_at=invite.created_at,
            expires_at=invite.expires_at,
            used_by=invite.used_by,
            used_at=invite.used_at,
        )


class InviteList(BaseModel):
    invites: list[InviteInfo]
