"""The signature of the checkpoint webhook's integrators: HMAC-SHA256 with each integrator's own
secret (``COLDTRAIL_API_WEBHOOK_SECRETS``) over ``<timestamp>.<raw body>``, the timestamp in
Unix seconds and at most 5 minutes off our clock (a captured request cannot be replayed
later). The same answer for an unknown integrator, a bad signature and an old timestamp."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from pydantic import SecretStr

TOLERANCE_S = 300
SIGNATURE_HEADER = "X-Coldtrail-Signature"
TIMESTAMP_HEADER = "X-Coldtrail-Timestamp"


def secrets_by_integrator(entries: Sequence[SecretStr]) -> dict[str, bytes]:
    out = {}
    for entry in entries:
        name, _, secret = entry.get_secret_value().partition(":")
        out[name] = secret.encode()
    return out


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secrets: Mapping[str, bytes],
    integrator: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> bool:
    secret = secrets.get(integrator)
    if secret is None or not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_S:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature.strip())
