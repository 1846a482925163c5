"""Child server processes of a load test and what /proc says about them.

Every server under test is a child of the generator on a free loopback port; it dies with
the generator even when the generator is killed (`PR_SET_PDEATHSIG`), and is stopped with
SIGTERM, then SIGKILL, when the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from core.process import die_with_parent

STOP_SECONDS = 10.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        if not self.log_file.exists():
            return ""
        return self.log_file.read_text(errors="replace")[-chars:]

    def log_since(self, offset: int) -> str:
        """What the log gained after its first `offset` bytes (this child's own lines when
        the file is shared with earlier runs)."""
        if not self.log_file.exists():
            return ""
        with self.log_file.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    async def stop(self) -> None:
        """SIGTERM, wait up to STOP_SECONDS, then SIGKILL."""
        if not self.running():
            return
        self.process.terminate()
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await asyncio.to_thread(self.process.wait)
        except TimeoutError:
            pass
        finally:
            self.kill()

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)


def spawn(name: str, args: Sequence[str], *, cwd: Path, log_file: Path,
          env: Mapping[str, str] | None = None) -> Child:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own fixed command lines
            list(args), cwd=cwd, env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)
    return Child(name, process, log_file)


async def wait_healthy(child: Child, session: aiohttp.ClientSession, url: str,
                       seconds: float) -> None:
    """Poll `url` until it answers 200 (at most `seconds`); fail early, with the log, if the
    child exits."""
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        if not child.running():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode} at start:\n"
                               f"{child.log_tail()}")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            last = type(exc).__name__
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{child.name} was not healthy at {url} within {seconds:.0f}s ({last}):\n"
                       f"{child.log_tail()}")


# /proc ------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # Field 3 (state) onwards; the command name in field 2 may hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
    found: list[int] = []
    unvisited = [pid]
    while unvisited:
        for child in parents.get(unvisited.pop(), []):
            found.append(child)
            unvisited.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live descendants (e.g. a server's embedded databases)."""
    total = 0.0
    for one in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += cpu_seconds(one)
    return total


def rss_bytes(pid: int) -> int:
    """VmRSS of one process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss_bytes(pid: int) -> int:
    total = 0
    for one in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, ValueError):
            total += rss_bytes(one)
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU used by this process and by a server tree over one window, in % of one core."""

    server_pid: int
    _wall: float = field(default=0.0, init=False)
    _own: float = field(default=0.0, init=False)
    _server: float = field(default=0.0, init=False)

    def start(self) -> None:
        self._wall = time.perf_counter()
        self._own = own_cpu_seconds()
        self._server = tree_cpu_seconds(self.server_pid)

    def stop(self) -> tuple[float, float]:
        """(generator %, server %) since `start`."""
        wall = max(time.perf_counter() - self._wall, 1e-9)
        own = own_cpu_seconds() - self._own
        server = tree_cpu_seconds(self.server_pid) - self._server
        return 100 * own / wall, 100 * server / wall
