"""What every scenario's run shares: the common options, a work directory for the servers'
data and logs, one HTTP session, and enough file descriptors for the sockets."""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import aiohttp

from core.process import raise_open_files_limit
from loadtest.report import write_json
from loadtest.servers import DEFAULT_ORG, Settings, Target, XietongTarget

log = logging.getLogger("loadtest")

# What a scenario measures on a started-to-be Xietong: the report's fields.
Measure = Callable[[XietongTarget, aiohttp.ClientSession], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class CommonOptions:
    """The options of every scenario; a scenario's own `Options` extends these."""

    connect_concurrency: int = 50
    login_concurrency: int = 20
    org: Path = DEFAULT_ORG
    out: Path | None = None
    workdir: Path | None = None


# name: (type, help); each is `--name` with dashes, its default from CommonOptions.
_ARGUMENTS: dict[str, tuple[type, str]] = {
    "connect_concurrency": (int, "socket handshakes in flight at once (%(default)s)"),
    "login_concurrency": (int, "logins in flight at once (%(default)s)"),
    "org": (Path, "directory imported into xietong"),
    "out": (Path, "write the results as JSON here"),
    "workdir": (Path, "keep server logs and data here (default: a temporary directory)"),
}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = CommonOptions()
    for name, (kind, text) in _ARGUMENTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind,
                            default=getattr(defaults, name), help=text)


def common_options(args: argparse.Namespace) -> dict[str, Any]:
    """The common options out of parsed arguments, as keywords for a scenario's `Options`."""
    return {f.name: getattr(args, f.name) for f in fields(CommonOptions)}


def options_json(options: CommonOptions) -> dict[str, Any]:
    """The options as they go into a report (paths as text)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()}


def kept_log(target: Target, options: CommonOptions) -> str | None:
    """The server's log file, if it outlives the run (a temporary workdir does not)."""
    return str(target.log_file) if options.workdir is not None else None


def require_open_files(needed: int) -> None:
    limit = raise_open_files_limit()
    if limit < needed:
        raise ValueError(f"open files limit {limit} is below the {needed} sockets needed")


@contextlib.asynccontextmanager
async def workspace(options: CommonOptions
                    ) -> AsyncIterator[tuple[Settings, aiohttp.ClientSession]]:
    """Target settings over `--workdir` (or a temporary directory removed afterwards) and
    an HTTP session without a connection limit."""
    with contextlib.ExitStack() as stack:
        workdir = options.workdir
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-")))
        settings = Settings(workdir=workdir, org=options.org,
                            login_concurrency=options.login_concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            yield settings, session


async def run_on_xietong(options: CommonOptions, document: dict[str, Any],
                         measure: Measure) -> dict[str, Any]:
    """Run `measure` against a Xietong server of its own and complete `document` (which
    names the scenario) with its fields, or with `error` if it broke; written to `--out`."""
    document.setdefault("error", None)
    async with workspace(options) as (settings, session):
        target = XietongTarget(settings)
        document["log_file"] = kept_log(target, options)
        try:
            document.update(await measure(target, session))
        except Exception as exc:
            log.exception("%s failed", document["scenario"])
            document["error"] = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            await target.close()
    if options.out is not None:
        write_json(options.out, document)
    return document
