"""The rule runner (ingest/derive.py) in a child process of its own, so that the rules and the
write path each have a core.

In one process they share one event loop and one interpreter: every reading costs the write
path's time plus the rules' time, and the rules (pure Python, about twice the write path's cost
per reading) held the batched path to about half its speed (docs/scaling.md). The runner needs
nothing from the writer's memory: the writer queues the devices in ``rule_queue`` in the same
transaction as their rows and NOTIFYs; the runner takes that queue on its own connections. So a
child process changes nothing in what the rules see or store, only where they run.

The child is started with ``spawn`` (a fresh interpreter: no inherited sockets, loop or
threads), runs ``RuleRunner.run`` in its own ``asyncio.run`` and stops when the parent's
stop event is set or the parent goes away. If it dies, the parent logs it and starts a new one
after a back-off; the leader lock (a session advisory lock) is freed with its connection, and
the queue entries it had not finished are still there, so the new runner does that work again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from ingest import collector
from ingest.derive import RuleRunner
from ingest.derive_config import RunnerConfig

log = logging.getLogger(__name__)

POLL_S = 0.2
STOP_TIMEOUT_S = 15.0


def _child(
    url: str, config: RunnerConfig, stop: ProcessEvent, parent: int, level: int, nice: int = 0
) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s [rules] %(message)s"
    )
    lower_priority(nice)
    collector.tune()
    asyncio.run(_child_main(url, config, stop, parent))


def lower_priority(nice: int) -> int:
    """Lower this process's CPU priority by ``nice`` (``COLDTRAIL_INGEST_RULES_NICE``); returns
    its niceness."""
    if nice:
        log.info("rule runner: CPU priority lowered by %d (nice)", nice)
    return os.nice(nice)


async def _child_main(url: str, config: RunnerConfig, stop: ProcessEvent, parent: int) -> None:
    done = asyncio.Event()
    runner = RuleRunner(url, config)
    task = asyncio.create_task(runner.run(done), name="rule-runner")
    while not task.done():
        if stop.is_set() or os.getppid() != parent:
            done.set()
            break
        await asyncio.sleep(POLL_S)
    await task


async def run_in_process(
    url: str, config: RunnerConfig, stop: asyncio.Event, nice: int = 0
) -> None:
    """Run the rule runner in a child process until ``stop`` is set (restarted if it dies),
    its CPU priority lowered by ``nice``."""
    ctx = multiprocessing.get_context("spawn")
    child_stop = ctx.Event()
    delay = 1.0
    while not stop.is_set():
        process: Any = ctx.Process(
            target=_child,
            args=(
                url,
                config,
                child_stop,
                os.getpid(),
                logging.getLogger().getEffectiveLevel(),
                nice,
            ),
            name="coldtrail-rules",
            daemon=True,
        )
        process.start()
        log.info("rule runner started in process %d", process.pid)
        while process.is_alive() and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_S)
        if stop.is_set():
            child_stop.set()
            await asyncio.to_thread(process.join, STOP_TIMEOUT_S)
            if process.is_alive():
                log.warning("rule runner process %d did not stop; terminated", process.pid)
                process.terminate()
                await asyncio.to_thread(process.join, 5)
            return
        log.error(
            "rule runner process %d exited (code %s); starting another in %.0f s",
            process.pid,
            process.exitcode,
            delay,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, 30.0)
