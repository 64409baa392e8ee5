"""Carrier tracking in: pull connectors for the carriers' public tracking APIs, the mapping of
their codes to the common status taxonomy, and the poller (docs/carriers.md). Checkpoints are
stored through the API's one idempotent path (:func:`api.queries_tracking.store_checkpoints`)."""
