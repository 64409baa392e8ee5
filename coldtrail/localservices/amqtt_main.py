"""Run the amqtt broker in its own process until SIGTERM or SIGINT.

``python -m coldtrail.localservices.amqtt_main --port N`` (0 = a free port) prints
``READY <port>`` on stdout once it accepts connections; the test suite's synchronous fixtures
use it through :class:`~coldtrail.localservices.broker.AmqttProcessBroker`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from coldtrail.localservices.broker import AmqttBroker


async def serve(port: int) -> None:
    """Run the broker until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AmqttBroker(port) as broker:
        print(f"READY {broker.port}", flush=True)  # the parent waits for this line
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = free)")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level of amqtt and coldtrail (stderr)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
