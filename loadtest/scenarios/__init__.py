"""One module per scenario. Each defines NAME, HELP, `add_arguments(parser)` and
`async main(args) -> exit code`."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def names() -> list[str]:
    """Scenario names as typed on the command line (`chat_fanout.py` is `chat-fanout`)."""
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__)
                  if not m.name.startswith("_"))


def load(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
