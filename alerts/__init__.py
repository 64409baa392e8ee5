"""Cold-chain rules as pure functions (docs/alerting.md); their I/O is in :mod:`alerts.io`."""
