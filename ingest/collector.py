"""The garbage collector's settings in ingest's processes: the worker (``coldtrail ingest``) and
its rule process (ingest/rules_process.py).

Both allocate a few objects per reading (decoded items, rows, keys, columns), most of them
short-lived and none in a cycle, and keep a batch's or the subjects' worth alive for a while:
with Python's default thresholds (700, 10, 10) the young generations are collected and promoted
over and over. Measured on the batched bench's workload (bench/ingest.py, 200,000 readings, the
rules on): the rule process 4.9 against 3.9 µs of CPU per reading; the worker 3.4 to 3.8
against 3.0 to 3.1 µs, and 152,000 to 166,000 against 173,000 to 178,000 readings/s stored.
Cyclic garbage (from asyncio and psycopg, little) is collected less often.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune() -> None:
    """For a process's main, once its imports are done: what they made lives as long as the
    process and is never scanned again (``gc.freeze``); the young generation is collected every
    50,000 allocations rather than 700."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
