"""Numbers and tables shared by the scenarios: percentiles, a plain-text table, JSON out."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (`q` in 0..100) of values sorted ascending; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = math.ceil(q / 100 * len(sorted_values))
    return float(sorted_values[min(max(rank, 1), len(sorted_values)) - 1])


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        ordered = sorted(values)
        return cls(len(ordered), percentile(ordered, 50), percentile(ordered, 95),
                   percentile(ordered, 99), float(ordered[-1]) if ordered else math.nan)

    def scaled(self, factor: float) -> Summary:
        """The same summary in another unit (e.g. ns -> ms with 1e-6)."""
        return Summary(self.count, self.p50 * factor, self.p95 * factor, self.p99 * factor,
                       self.max * factor)


@dataclass(frozen=True)
class Column:
    """A table column: header, how to read a cell from a row dict, and how to format it."""

    header: str
    key: str
    fmt: str = "{}"
    left: bool = False

    def cell(self, row: dict[str, Any]) -> str:
        value = row.get(self.key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return self.fmt.format(value)


#: What a run cost, by the keys every scenario reports it under: the generator's and the
#: server tree's CPU in % of one core, and the server process's RSS.
LOAD_COLUMNS = (
    Column("gen_cpu%", "gen_cpu_pct", "{:.0f}"),
    Column("srv_cpu%", "srv_cpu_pct", "{:.0f}"),
    Column("srv_rss_MB", "srv_rss_mb", "{:.0f}"),
)


def format_table(columns: Sequence[Column], rows: Iterable[dict[str, Any]],
                 note: Callable[[dict[str, Any]], str | None] | None = None) -> str:
    """Columns padded to their widest cell; text left-aligned, numbers right-aligned.

    `note(row)`, when it returns text, replaces the row's cells after the first with it
    (a server that failed shows its error instead of numbers).
    """
    header = [c.header for c in columns]
    body: list[list[str]] = []
    notes: list[str | None] = []
    for row in rows:
        text = note(row) if note else None
        body.append([c.cell(row) for c in columns])
        notes.append(text)
    widths = [max([len(header[i])] + [len(r[i]) for r in body]) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(widths[i]) if columns[i].left else cell.rjust(widths[i])
                         for i, cell in enumerate(cells)).rstrip()

    out = [line(header)]
    for cells, text in zip(body, notes, strict=True):
        out.append(line(cells) if text is None else f"{cells[0].ljust(widths[0])}  {text}")
    return "\n".join(out)


def write_json(path: Path, document: Any) -> None:
    """Write `document` as JSON; NaN (a percentile of nothing) becomes null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_no_nan(document), indent=2, allow_nan=False, default=_jsonable)
    path.write_text(text + "\n")


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
