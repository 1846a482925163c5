"""`python -m core.directory.cli FILE`: import a directory file straight into the database.

Uses MONGO_URL, or with none set starts the embedded server on DATA_DIR (stop `make run`
first: two servers must not share one data directory). Tokens of users it disables stop
working at once; a running server's live sockets are disconnected only by the REST import.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from core.bus import EventBus
from core.clock import SystemClock
from core.config import ConfigError, load_config
from core.directory.importer import DirectoryImporter
from core.directory.service import DirectoryService
from core.directory.store import DirectoryStore
from core.embedded import start_mongo
from core.errors import AppError
from core.mongo import connect_mongo


async def run(raw: object) -> int:
    config = load_config()
    child = None if config.mongo_url else await start_mongo(config.data_dir)
    url = config.mongo_url or (child.url if child else "")
    client = connect_mongo(url)
    try:
        store = DirectoryStore(client[config.mongo_db])
        await store.ensure_indexes()
        service = DirectoryService(store, DirectoryImporter(
            store, password_hash_n=config.password_hash_n), EventBus(), SystemClock())
        result = await service.do_import(raw)
        print(json.dumps(result.to_wire(), ensure_ascii=False))
        return 0
    except AppError as exc:
        print(json.dumps({"error": exc.to_wire()}, ensure_ascii=False), file=sys.stderr)
        return 1
    finally:
        await client.close()
        if child is not None:
            await child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Import a xietong-directory/1 file.")
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(run(json.loads(args.file.read_text(encoding="utf-8")))))
    except (ConfigError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
