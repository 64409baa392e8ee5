"""The signed unsubscribe link of a shopper's subscription: it works without the tracking token
(a message never holds the token: only its digest is kept), and only for the subscription it
names. ``<subscription_id>.<HMAC-SHA256 of it, base64url, 128 bits>``, signed with the link
secret that the dispatcher and the API share (``COLDTRAIL_NOTIFY_LINK_SECRET`` =
``COLDTRAIL_API_LINK_SECRET``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

UNSUBSCRIBE_PATH = "/u/"
"""Where the link points, under the API's public URL: a page that unsubscribes (POST)."""


def _mac(secret: str, subscription_id: int) -> str:
    digest = hmac.new(
        secret.encode(), f"unsubscribe:{subscription_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def sign(secret: str, subscription_id: int) -> str:
    """The reference of ``subscription_id``'s unsubscribe link."""
    if not secret:
        raise ValueError("the link secret is empty")
    return f"{subscription_id}.{_mac(secret, subscription_id)}"


def verify(secret: str, ref: str) -> int | None:
    """The subscription id of a well-signed ``ref``; None for anything else."""
    if not secret or len(ref) > 64:
        return None
    head, _, mac = ref.partition(".")
    if not head.isdigit() or len(head) > 18 or not mac:
        return None
    subscription_id = int(head)
    if not hmac.compare_digest(mac, _mac(secret, subscription_id)):
        return None
    return subscription_id


def unsubscribe_url(public_url: str, secret: str, subscription_id: int) -> str:
    return f"{public_url.rstrip('/')}{UNSUBSCRIBE_PATH}{sign(secret, subscription_id)}"
