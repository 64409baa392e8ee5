"""``/v1/profiles``: the temperature profiles shipments are judged by, every revision kept
(the built-ins and the users' own; alerts/profile_store.py). A shipment records the revision it
was created with; changing a profile makes a new revision for the shipments created after."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response
from pydantic import BaseModel, Field

from alerts.io import profile_store
from alerts.profile_model import Profile
from api.auth import Admin, require_viewer
from api.deps import Connection
from api.errors import ApiError
from api.routes.responses import ADMIN, NOT_FOUND, OPS, VALIDATION

router = APIRouter(tags=["profiles"])

ProfileName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


class StoredProfileOut(BaseModel):
    name: str
    revision: int
    builtin: bool = Field(description="One of coldtrail's built-in profiles.")
    created_at: datetime
    created_by: str
    profile: dict[str, Any] = Field(
        description="The profile document (docs/profiles.md): boundaries, delays, budgets,"
        " scopes, MKT."
    )


class ProfileList(BaseModel):
    items: list[StoredProfileOut] = Field(description="The latest revision of each profile.")


class ProfileRevisions(BaseModel):
    name: str
    revisions: list[StoredProfileOut] = Field(description="Every revision, oldest first.")


def _out(stored: profile_store.StoredProfile) -> StoredProfileOut:
    return StoredProfileOut(
        name=stored.profile.name,
        revision=stored.profile.revision,
        builtin=stored.builtin,
        created_at=stored.created_at,
        created_by=stored.created_by,
        profile=profile_store.document(stored.profile),
    )


@router.get(
    "/v1/profiles",
    summary="The temperature profiles, latest revision of each (ops: viewer)",
    responses={**OPS},
    dependencies=[Depends(require_viewer)],
)
async def list_profiles(conn: Connection) -> ProfileList:
    return ProfileList(items=[_out(p) for p in await profile_store.list_latest(conn)])


@router.get(
    "/v1/profiles/{name}",
    summary="Every revision of one profile (ops: viewer)",
    responses={**OPS, **NOT_FOUND},
    dependencies=[Depends(require_viewer)],
)
async def profile_revisions(name: ProfileName, conn: Connection) -> ProfileRevisions:
    revisions = await profile_store.revisions(conn, name)
    if not revisions:
        raise ApiError(404, "profile_not_found", f"no profile {name!r}")
    return ProfileRevisions(name=name, revisions=[_out(p) for p in revisions])


@router.put(
    "/v1/profiles/{name}",
    summary="Store a profile as its next revision (ops: admin)",
    description="The body is a profile document (docs/profiles.md); its name must be the"
    " path's (or absent) and its revision is ignored: the store numbers revisions. 201 with the"
    " new revision; 200 with the latest one when its rules are the same (nothing stored)."
    " Shipments created from now on are judged by the new revision; those already created keep"
    " theirs.",
    responses={
        **ADMIN,
        **VALIDATION,
        201: {"model": StoredProfileOut, "description": "A new revision was stored."},
    },
)
async def put_profile(
    name: ProfileName,
    body: Annotated[dict[str, Any], Body()],
    admin: Admin,
    conn: Connection,
    response: Response,
) -> StoredProfileOut:
    if body.get("name", name) != name:
        raise ApiError(
            422, "profile_name_mismatch", f"the body names {body.get('name')!r}, the path {name!r}"
        )
    try:
        profile = Profile.model_validate({**body, "name": name, "revision": 1})
    except ValueError as exc:
        raise ApiError(422, "invalid_profile", f"invalid profile: {exc}") from None
    stored, created = await profile_store.save(conn, profile, actor=admin.name)
    if created:
        response.status_code = 201
    return _out(stored)
