"""``GET /v1/shipments/{tracking_number}/report.pdf`` and ``.../report.csv``: a shipment's
temperature report for quality teams (ops viewer or above). See docs/reports.md."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse

from api import auth
from api.deps import Connection
from api.errors import ApiError
from api.models import Identifier
from api.reports import csv_export, data, pdf
from api.reports.labels import Language, language_of
from api.routes.responses import FORBIDDEN, NOT_FOUND, OPS, Responses

router = APIRouter(tags=["reports"])

HASH_HEADER = "X-Content-SHA256"

_RESPONSES: Responses = {**OPS, **FORBIDDEN, **NOT_FOUND}
_HASH_DOC = {
    HASH_HEADER: {
        "description": "SHA-256 (hex) of the report's data: the same for the PDF and the CSV of"
        " the same data, and printed in both (docs/reports.md says how to verify it).",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    }
}


def _not_found(tracking_number: str) -> ApiError:
    return ApiError(404, "shipment_not_found", f"no shipment {tracking_number!r}")


def _headers(gathered: data.Gathered, extension: str) -> dict[str, str]:
    tracking_number = gathered.report.header.tracking_number  # an Identifier: safe in a header
    return {
        HASH_HEADER: gathered.report.content_sha256,
        "Content-Disposition": f'attachment; filename="{tracking_number}-report.{extension}"',
        "Cache-Control": "private, no-store",
    }


@router.get(
    "/v1/shipments/{tracking_number}/report.pdf",
    summary="A shipment's temperature report as an A4 PDF (ops)",
    description="Header (profile and its band, origin, destination, promised date, parcels),"
    " a temperature chart per parcel with the band and the excursions, statistics (min, max,"
    " mean, MKT, time out of band), the excursions, data completeness per device, custody,"
    " route summary, carrier checkpoints, exceptions with their audit chain verdict, and the"
    " content hash in every page's footer. Headings in English or French (``lang``, by default"
    " the shipment's language).",
    response_class=Response,
    responses={
        200: {"content": {pdf.MEDIA_TYPE: {}}, "description": "The PDF.", "headers": _HASH_DOC},
        **_RESPONSES,
    },
)
async def report_pdf(
    tracking_number: Annotated[Identifier, Path()],
    _user: auth.Viewer,
    conn: Connection,
    lang: Annotated[Language | None, Query(description="Headings' language.")] = None,
) -> Response:
    gathered = await data.gather(conn, tracking_number)
    if gathered is None:
        raise _not_found(tracking_number)
    try:
        language = language_of(lang, gathered.report.header.language)
        # CPU-bound (a second or so for a long trip): off the event loop.
        content = await asyncio.to_thread(pdf.render, gathered.report, language)
    finally:
        gathered.close()
    return Response(content, media_type=pdf.MEDIA_TYPE, headers=_headers(gathered, "pdf"))


@router.get(
    "/v1/shipments/{tracking_number}/report.csv",
    summary="A shipment's temperature report as CSV: summary lines and every reading (ops)",
    description="Line 1: ``# content_sha256,<hex>,generated_at,<time>``. Then the summary"
    " sections as ``# <section>,...`` lines (each introduced by ``# columns,<section>,...``),"
    " then ``time,parcel_id,device_id,seq,temperature_c,humidity_pct,in_band`` and one row per"
    " reading of each parcel. The hash is the SHA-256 of every line after the first. Streamed.",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {csv_export.MEDIA_TYPE: {}},
            "description": "The CSV.",
            "headers": _HASH_DOC,
        },
        **_RESPONSES,
    },
)
async def report_csv(
    tracking_number: Annotated[Identifier, Path()],
    _user: auth.Viewer,
    conn: Connection,
) -> StreamingResponse:
    gathered = await data.gather(conn, tracking_number)
    if gathered is None:
        raise _not_found(tracking_number)
    # The readings are spooled: the database connection goes back to the pool before a slow
    # client has read the file.
    return StreamingResponse(
        csv_export.body(gathered.report, gathered.summary, gathered.readings),
        media_type=csv_export.MEDIA_TYPE,
        headers=_headers(gathered, "csv"),
    )
