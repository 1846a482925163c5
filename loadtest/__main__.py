"""`python -m loadtest SCENARIO [options]`; `python -m loadtest SCENARIO --help` for each."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import uvloop

from loadtest import scenarios


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name in scenarios.names():
        module = scenarios.load(name)
        child = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(child)
    return parser


async def _until_signal(work: Coroutine[Any, Any, int]) -> int:
    """Run `work`; SIGTERM cancels it like Ctrl-C does, so its cleanup (stopping the
    servers) runs either way."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await work
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    module = scenarios.load(args.scenario)
    try:
        code: int = uvloop.run(_until_signal(module.main(args)))
    except ValueError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("loadtest: interrupted; the servers were stopped", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
