"""Bodies of the ops users' routes (password login, user admin) and of gateway broker
credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from api.models import _Request
from api.security import check_password_strength

UserName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$",
        description="1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit",
    ),
]
Password = Annotated[
    str,
    Field(min_length=1, max_length=1024, description="At least 12 characters."),
    AfterValidator(check_password_strength),
]
RoleName = Literal["viewer", "agent", "admin"]


class AccessToken(BaseModel):
    """The OAuth2 token response (RFC 6749, section 5.1)."""

    access_token: str = Field(description="A JWT (HS256) to send as 'Authorization: Bearer'.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth2 token type)
    expires_in: int = Field(description="Seconds until the token expires.")


class Me(BaseModel):
    name: str
    role: RoleName


class UserIn(_Request):
    name: UserName
    role: RoleName
    password: Password


class UserPatch(_Request):
    """What to change; fields left out are kept."""

    role: RoleName | None = None
    password: Password | None = None
    disabled: bool | None = Field(
        None, description="A disabled user cannot log in, and their tokens stop working at once."
    )


class User(BaseModel):
    name: str
    role: RoleName
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserList(BaseModel):
    users: list[User]


class BrokerCredential(BaseModel):
    """A gateway's broker credential, without its secret."""

    username: str
    gateway_id: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None


class BrokerCredentialList(BaseModel):
    gateway_id: str
    credentials: list[BrokerCredential]


class IssuedBrokerCredential(BrokerCredential):
    password: str = Field(
        description="Shown this once: only a Mosquitto-compatible hash of it is kept."
    )
