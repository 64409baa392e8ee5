"""coldtrail's HTTP API (FastAPI): vehicles, shipments, custody and the tracking timeline."""
