"""The web pages: the shopper's tracking page ``/t/{token}`` and the ops console ``/ops``.

Plain HTML and ES modules under ``static/`` (served at ``/static``), with the third-party
libraries vendored in ``static/vendor/`` by ``make assets`` (see docs/web.md). The pages read the
same JSON API as every other client; the routes here only serve the HTML, with a strict
Content-Security-Policy.
"""

from __future__ import annotations

from api.web.pages import STATIC_DIR, install

__all__ = ["STATIC_DIR", "install"]
