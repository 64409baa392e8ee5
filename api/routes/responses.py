"""Error responses shared by the routes' OpenAPI descriptions (the body is models.ErrorBody)."""

from __future__ import annotations

from typing import Any

from api.models import ErrorBody

Responses = dict[int | str, dict[str, Any]]


def error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


VALIDATION: Responses = {422: error("Invalid request; the message names each field.")}
OPS: Responses = {
    401: error("Missing or invalid ops bearer token."),
    503: error("No ops token is configured, or the database is unreachable."),
    **VALIDATION,
}
FORBIDDEN: Responses = {403: error("The ops token is valid but its user's role may not do this.")}
AGENT: Responses = {**OPS, **FORBIDDEN}
"""Ops endpoints that need the agent role (or admin)."""
ADMIN: Responses = {**OPS, **FORBIDDEN}
"""Ops endpoints that need the admin role."""
CONFLICT: Responses = {409: error("Conflicts with what is stored.")}
NOT_FOUND: Responses = {404: error("Not found.")}
