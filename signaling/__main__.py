"""`python -m signaling`: run one node until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time

import uvloop

from core.config import ConfigError, load_config
from core.masking import mask_logs
from core.process import raise_open_files_limit
from signaling.app import build_node

log = logging.getLogger("xietong")


def tune_garbage_collector() -> None:
    """Keep the objects of start-up out of every later collection, and collect the young
    generation less often: a node holds many long-lived objects per socket, and full
    collections over all of them are the pauses behind the slowest deliveries."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


async def run() -> None:
    started = time.monotonic()
    config = load_config()
    logging.getLogger().setLevel(config.log_level)
    limit = raise_open_files_limit()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    node = await build_node(config)
    try:
        port = await node.serve()
        tune_garbage_collector()
        log.info("Xietong node %s listening on http://%s:%d (%s; open files %d) in %.1fs",
                 config.node_id, config.host, port,
                 "embedded Redis and MongoDB-wire" if config.embedded else "external services",
                 limit, time.monotonic() - started)
        await stop.wait()
        log.info("stopping: draining sockets")
    finally:
        await node.close()
    log.info("stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    mask_logs(logging.getLogger().handlers)
    try:
        uvloop.run(run())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
