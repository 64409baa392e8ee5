"""The I/O of alerts: what reads and writes the database or talks to the outside world for the
pure rules of :mod:`alerts` (the exception audit-chain writer, the notification outbox, its
dispatcher and channels, the delivery estimate's inputs, the ``coldtrail alerts`` daemons).

Nothing in :mod:`alerts` itself may import this package, psycopg, apprise or httpx: an
import-linter contract (pyproject.toml) checks it. Keep this file free of imports.
"""
